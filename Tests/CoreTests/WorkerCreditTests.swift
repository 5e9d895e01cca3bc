import Core
import Testing
import Wire

/// A worker serving several shards shares its slots among those that ask (DEMAND) by the weight each
/// asks for and by what its tasks cost in slot time, so that equal products get equal worker time
/// whichever shard they are bound to.
@Suite struct WorkerCreditTests {
    /// A worker whose shards always have more work: each credit it gives is used at once for a task that
    /// runs `durations[link]` milliseconds, and each shard says so again with DEMAND of `weights[link]`.
    /// Returns the worker time each shard's tasks took over `tasks` task ends.
    static func share(slots: Int, weights: [UInt32], durations: [Int64], tasks: Int) -> [Int64] {
        var configuration = WorkerConfiguration(name: "w", slots: slots, shards: weights.count)
        configuration.handlers = ["h"]
        var now = Timestamp(milliseconds: 1_000)
        var core = WorkerCore(configuration: configuration, session: 1, now: now)
        var nextTask: UInt64 = 1
        var ends: [(at: Timestamp, attempt: WorkerCore.AttemptID)] = []
        var time = [Int64](repeating: 0, count: weights.count)
        /// Every credit given goes to a task at once, and the shard asks again.
        func serve(_ effects: [WorkerEffect]) {
            for effect in effects {
                let link: Int
                let credit: UInt32
                switch effect {
                case .send(let to, .pull(let pull)):
                    (link, credit) = (to, pull.credit)
                case .send(let to, .ready(let ready)):
                    (link, credit) = (to, ready.slots)
                    core.received(.welcome(Welcome(shard: UInt32(to + 1), epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: 1 << 20)), on: to, now: now)
                default:
                    continue
                }
                guard credit > 0 else { continue }
                var specs: [TaskSpec] = []
                for _ in 0..<credit {
                    specs.append(
                        TaskSpec(task: nextTask, attempt: 1, run: 1, job: "j", product: "p\(link)", flow: "f", stepName: "j", kind: .handler,
                                 action: "h", type: "t", timeout: 0, moment: 1))
                    ends.append((now.adding(milliseconds: durations[link]), WorkerCore.AttemptID(link: link, ref: TaskRef(task: nextTask, attempt: 1))))
                    nextTask += 1
                }
                core.received(.tasks(Tasks(tasks: specs)), on: link, now: now)
                core.received(.demand(Demand(pending: 1_000_000, weight: weights[link])), on: link, now: now)
            }
        }
        core.start(now: now)
        serve(core.finishTurn(now: now))
        for _ in 0..<tasks {
            ends.sort { ($0.at, $0.attempt.ref.task) < ($1.at, $1.attempt.ref.task) }
            let (at, attempt) = ends.removeFirst()
            now = at
            time[attempt.link] += durations[attempt.link]
            core.attemptEnded(attempt, outcome: .succeeded, exitCode: 0, output: "", log: "", error: "", data: [], now: now)
            serve(core.finishTurn(now: now))
        }
        return time
    }

    @Test func equalProductsGetEqualWorkerTimeWhereverTheyAreBound() {
        // Two equal products on shard 1 (it asks with weight 2), one on shard 2 (weight 1): shard 1 gets
        // two thirds of the worker, so each product gets a third.
        let time = Self.share(slots: 8, weights: [2, 1], durations: [50, 50], tasks: 6_000)
        let total = Double(time.reduce(0, +))
        #expect(abs(Double(time[0]) / total - 2.0 / 3) < 0.03, "\(time)")
    }

    @Test func sharesAreOfWorkerTimeNotOfCredits() {
        // Equal weights; shard 1's tasks take 100 ms, shard 2's 10 ms: each gets half of the worker's time.
        let time = Self.share(slots: 8, weights: [1, 1], durations: [100, 10], tasks: 20_000)
        let total = Double(time.reduce(0, +))
        #expect(abs(Double(time[0]) / total - 0.5) < 0.05, "\(time)")
    }

    @Test func withoutWeightsTheSlotsAreSharedInTurn() {
        let time = Self.share(slots: 6, weights: [1, 1, 1], durations: [20, 20, 20], tasks: 3_000)
        let total = Double(time.reduce(0, +))
        for share in time { #expect(abs(Double(share) / total - 1.0 / 3) < 0.03, "\(time)") }
    }

    @Test func aDemandSentBeforeARecalledThatGaveNothingBackStands() {
        var configuration = WorkerConfiguration(name: "w", slots: 2, shards: 2)
        configuration.handlers = ["h"]
        let now = Timestamp(milliseconds: 1_000)
        var core = WorkerCore(configuration: configuration, session: 1, now: now)
        core.start(now: now)
        _ = core.finishTurn(now: now)
        for link in 0..<2 {
            core.received(.welcome(Welcome(shard: UInt32(link + 1), epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: 1 << 20)), on: link, now: now)
        }
        // Shard 2 used its credit and says it has more; the worker, with no slot free, recalls shard 1's.
        core.received(.demand(Demand(pending: 50, weight: 1)), on: 1, now: now)
        _ = core.finishTurn(now: now)
        // Shard 1 had meanwhile used its credit on work that had just arrived, and asked for more before
        // the RECALL reached it: it gives nothing back, and its DEMAND still stands.
        core.received(.demand(Demand(pending: 80, weight: 2)), on: 0, now: now)
        core.received(.recalled(Recalled(credit: 0)), on: 0, now: now)
        #expect(core.links[0].demand == 80)
        // Credit given back is credit the shard had no work for: its earlier DEMAND is over.
        core.received(.recalled(Recalled(credit: 1)), on: 1, now: now)
        #expect(core.links[1].demand == 0)
    }

    @Test func withNoShardAskingTheFreeSlotsGoToEachShardInTurn() {
        var configuration = WorkerConfiguration(name: "w", slots: 6, shards: 3)
        configuration.handlers = ["h"]
        let now = Timestamp(milliseconds: 1_000)
        var core = WorkerCore(configuration: configuration, session: 1, now: now)
        core.start(now: now)
        _ = core.finishTurn(now: now)
        for link in 0..<3 {
            core.received(.welcome(Welcome(shard: UInt32(link + 1), epoch: 1, heartbeat: 1000, liveness: 3, resultLimit: 1 << 20)), on: link, now: now)
        }
        // READY opened 2 slots with each; one shard recalls-free way to free slots: each gives its credit back.
        for link in 0..<3 { core.received(.recalled(Recalled(credit: 2)), on: link, now: now) }
        let pulls = core.finishTurn(now: now).compactMap { effect -> (Int, UInt32)? in
            if case .send(let link, .pull(let pull)) = effect { (link, pull.credit) } else { nil }
        }
        #expect(pulls.sorted { $0.0 < $1.0 }.map(\.1) == [2, 2, 2], "\(pulls)")
    }
}
