import Foundation
import Core
import Testing
import Wire

struct ManagementHarness {
    var core: ManagementCore
    var now = Timestamp(milliseconds: 1_795_000_000_000)
    let client = Peer([3])
    var nextRequest: UInt64 = 0

    /// Applies ``flow`` and starts `count` runs of it, each start answered.
    mutating func startRuns(_ count: Int) {
        _ = apply(Self.flow)
        for _ in 0..<count { _ = call("start", #"{"flow": "payments/eod"}"#) }
        for request in 1...count {
            core.orchestratorMessage(.operationResult(OperationResult(request: UInt64(request), status: .accepted)), now: now)
        }
        _ = core.finishTurn()
    }

    init(shards: [UInt32] = [1, 2]) {
        core = ManagementCore(configuration: ManagementConfiguration(shards: shards), restoring: ManagementSnapshot(), now: now)
    }

    static let flow = #"{"product": "payments", "flow": "eod", "params": {"region": "north"}, "jobs": [{"name": "a", "run": "true"}]}"#

    mutating func call(_ method: String, _ body: String, by caller: APICaller? = nil) -> (ManagementTurn, APIReply, JSON) {
        nextRequest += 1
        core.apiRequest(APIRequest(request: nextRequest, method: method, body: body), from: client, by: caller, now: now)
        let turn = core.finishTurn()
        guard let (_, message) = turn.replies.first, case .apiReply(let reply) = message else {
            return (turn, APIReply(request: 0, status: .internalError, body: "{}"), .null)
        }
        return (turn, reply, (try? JSONParser.parse(reply.body)) ?? .null)
    }

    /// The orchestrator publishes that run 1 of `product`/`flow` is in `state`, as the `sequence`-th message of its stream.
    mutating func published(_ state: RunState, product: String = "payments", flow: String = "eod", sequence: UInt64) {
        let status = RunStatus(run: 1, product: product, flow: flow, state: state, jobs: 1, started: now.wire, finished: now.wire, time: now.wire)
        core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: sequence, updates: [status])), now: now)
        _ = core.finishTurn()
    }

    mutating func apply(_ texts: String...) -> (ManagementTurn, APIReply, JSON) { apply(texts) }

    mutating func apply(_ texts: [String]) -> (ManagementTurn, APIReply, JSON) {
        let files = texts.enumerated().map { JSON.object([("path", .string("f\($0.offset).json")), ("text", .string($0.element))]) }
        return call("apply", JSON.object([("files", .array(files))]).rendered())
    }
}

@Suite struct ManagementCoreTests {
    @Test func applyStoresAVersionedFlowAndBindsANewProductToAShard() {
        var management = ManagementHarness()
        let (turn, reply, body) = management.apply(ManagementHarness.flow)
        #expect(reply.status == .ok)
        #expect(turn.products.map(\.name) == ["payments"])
        #expect(turn.flows.map(\.version) == [1])
        #expect(body["flows"]?.array?.first?["changed"]?.bool == true)
        let (again, _, unchanged) = management.apply(ManagementHarness.flow)
        #expect(again.flows.isEmpty)
        #expect(unchanged["flows"]?.array?.first?["changed"]?.bool == false)
        let changedFlow = ManagementHarness.flow.replacingOccurrences(of: "\"true\"", with: "\"false\"")
        #expect(management.apply(changedFlow).0.flows.map(\.version) == [2])
    }

    /// Found by an operator: a flow in two files was "defined by more than one of the files", naming
    /// neither. Both are named, and nothing is applied.
    @Test func aFlowDefinedTwiceNamesItsFiles() {
        var management = ManagementHarness()
        let (turn, reply, body) = management.apply(ManagementHarness.flow, ManagementHarness.flow)
        #expect(reply.status == .invalid && turn.flows.isEmpty)
        #expect(body["problems"]?.array?.compactMap(\.string) == ["payments/eod is defined by more than one of the files: f0.json, f1.json"])
    }

    /// Found by a new user: `baton queue` said a held product's task would start "at once", the shard
    /// knowing nothing of holds. Management marks the products it holds in each shard's answer.
    @Test func aQueueAnswerMarksTheProductsHeld() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (held, _, _) = management.call("hold", #"{"product": "payments", "actor": "ops"}"#)
        guard case .operationRequest(let hold)? = held.toOrchestrator.first else { Issue.record("no hold sent"); return }
        management.core.orchestratorMessage(.operationResult(OperationResult(request: hold.request, status: .ok, detail: "held")), now: management.now)
        _ = management.core.finishTurn()
        let (asked, _, _) = management.call("queue", #"{"shard": 1}"#)
        guard case .shardQuery(let query)? = asked.toOrchestrator.first else { Issue.record("no query sent"); return }
        let body = #"{"shard": 1, "products": [{"product": "payments", "pending": 0, "estimate": 0}, {"product": "ledger", "pending": 2}]}"#
        management.core.orchestratorMessage(.shardAnswer(ShardAnswer(request: query.request, shard: 1, status: .ok, body: body)), now: management.now)
        let turn = management.core.finishTurn()
        guard case .apiReply(let reply)? = turn.replies.first?.1 else { Issue.record("no reply"); return }
        let products = (try? JSONParser.parse(reply.body))?["products"]?.array ?? []
        #expect(products.map { $0["held"]?.bool ?? false } == [true, false], "\(reply.body)")
    }

    @Test func productsAreSpreadOverTheShards() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let other = ManagementHarness.flow.replacingOccurrences(of: "payments", with: "trading")
        let (turn, _, _) = management.apply(other)
        #expect(turn.products.map(\.shard) == [2])
    }

    @Test func anInvalidFileAppliesNothingAndListsEveryProblem() {
        var management = ManagementHarness()
        let bad = #"{"product": "p", "flow": "f", "jobs": [{"name": "a"}, {"name": "b", "run": "x", "after": ["zz"]}]}"#
        let (turn, reply, body) = management.apply(ManagementHarness.flow, bad)
        #expect(reply.status == .invalid)
        #expect(!turn.needsCommit)
        #expect(body["problems"]?.array?.count == 2)
        #expect(management.core.flows.isEmpty)
    }

    @Test func startCommitsTheRunBeforeTheOperationGoesOut() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (turn, reply, body) = management.call("start", #"{"flow": "payments/eod", "params": {"region": "south"}}"#)
        #expect(reply.status == .ok)
        #expect(turn.runs.map(\.id) == [1])
        #expect(turn.operations.count == 1)
        guard case .operationRequest(let operation) = turn.toOrchestrator.first else { Issue.record("no operation"); return }
        #expect(operation.params == ["region": "south"])
        #expect(operation.shard == 1 && operation.version == 1)
        #expect(operation.moment == UInt64(management.now.milliseconds) * 1000)
        #expect(body["run"]?.integer == 1)
    }

    @Test func entryMomentsAndRunIDsOnlyIncrease() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        management.now = management.now.adding(milliseconds: -60_000)  // The clock went back.
        let (turn, _, _) = management.call("start", #"{"flow": "payments/eod"}"#)
        #expect(turn.runs[0].id == 2)
        #expect(turn.runs[0].moment == UInt64(management.now.adding(milliseconds: 60_000).milliseconds) * 1000 + 1)
    }

    @Test func startingAnUnknownFlowOrProductOrWithAnUndeclaredParameterChangesNothing() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let unknownProduct = management.call("start", #"{"flow": "nobody/eod"}"#)
        #expect(unknownProduct.1.status == .notFound)
        #expect(unknownProduct.2["error"]?.string == "unknown product \"nobody\" (products: payments)")
        // Among many products, a likely typo and ten names, not all (found by an operator: 3 KB on one line).
        var many = ManagementHarness()
        _ = many.apply((1...30).map { ManagementHarness.flow.replacingOccurrences(of: "payments", with: String(format: "p%02d", $0)) })
        let typo = many.call("start", #"{"flow": "p1/eod"}"#)
        #expect(typo.2["error"]?.string == #"unknown product "p1" (did you mean "p01"? products: p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, … (30 in all: `baton products`))"#, "\(typo.1.body)")
        let unknownFlow = management.call("start", #"{"flow": "payments/nightly"}"#)
        #expect(unknownFlow.1.status == .notFound)
        #expect(unknownFlow.2["error"]?.string == "unknown flow \"nightly\" of product \"payments\" (its flows: eod)")
        let undeclared = management.call("start", #"{"flow": "payments/eod", "params": {"regoin": "x"}}"#)
        #expect(undeclared.1.status == .invalid)
        #expect(undeclared.2["problems"]?.array?.first?.string == "parameter \"regoin\" is not declared by payments/eod (it declares: region)")
        for (turn, _, _) in [unknownProduct, unknownFlow, undeclared] {
            #expect(!turn.needsCommit && turn.toOrchestrator.isEmpty)
        }
    }

    @Test func aStartWithAKeyAlreadyUsedReturnsTheSameRun() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod", "key": "k1"}"#)
        let (turn, _, body) = management.call("start", #"{"flow": "payments/eod", "key": "k1"}"#)
        #expect(turn.runs.isEmpty && turn.toOrchestrator.isEmpty)
        #expect(body["run"]?.integer == 1 && body["repeated"]?.bool == true)
    }

    /// Found by an explorer: an empty key was taken as no key, so that two starts under it started two
    /// runs. It is refused, as a key over 255 octets is.
    @Test func aStartWithAnEmptyKeyIsRefused() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (turn, head, body) = management.call("start", #"{"flow": "payments/eod", "key": ""}"#)
        #expect(head.status == .badRequest && turn.runs.isEmpty && turn.toOrchestrator.isEmpty)
        #expect(body["error"]?.string == "\"key\" is 1 to 255 octets, not empty: give a key, or none")
    }

    /// Found by an explorer: `runs` of a product or flow never applied, and `history` of such a product,
    /// answered with none, where `start` refuses them. They are refused 404, naming the known ones.
    @Test func runsAndHistoryOfAnUnknownProductOrFlowAreRefusedNamingTheKnownOnes() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let product = management.call("runs", #"{"product": "nobody"}"#)
        #expect(product.1.status == .notFound && product.0.runLists.isEmpty)
        #expect(product.2["error"]?.string == #"unknown product "nobody" (products: payments)"#)
        let flow = management.call("runs", #"{"flow": "payments/nope"}"#)
        #expect(flow.1.status == .notFound && flow.0.runLists.isEmpty)
        #expect(flow.2["error"]?.string == #"unknown flow "nope" of product "payments" (its flows: eod)"#)
        let history = management.call("history", #"{"product": "nobody"}"#)
        #expect(history.1.status == .notFound && history.0.histories.isEmpty)
        #expect(management.call("runs", #"{"flow": "payments/eod"}"#).0.runLists.count == 1)
        #expect(management.call("history", #"{"product": "payments"}"#).0.histories.count == 1)
    }

    /// Found by a new user: a key was looked up before anything else, so a start of another flow under a
    /// key already used returned the first run as if it were the one asked for. A start that differs from
    /// the key's first, in its flow or a parameter given, is refused; one that gives fewer parameters, or
    /// only the defaults, is the same start.
    @Test func aKeyUsedForAnotherStartIsRefusedNamingTheRunItStarted() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.apply(#"{"product": "payments", "flow": "nightly", "jobs": [{"name": "a", "run": "true"}]}"#)
        _ = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"region": "south"}}"#)
        let otherFlow = management.call("start", #"{"flow": "payments/nightly", "key": "k1"}"#)
        #expect(otherFlow.1.status == .conflict)
        #expect(otherFlow.2["error"]?.string == "key \"k1\" started run 1 of payments/eod: a key names one start; use another key")
        let otherParameter = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"region": "north"}}"#)
        #expect(otherParameter.1.status == .conflict)
        #expect(otherParameter.2["error"]?.string == "key \"k1\" started run 1 of payments/eod, whose parameter \"region\" was \"south\": a key names one start; use another key")
        for (turn, _, _) in [otherFlow, otherParameter] { #expect(turn.runs.isEmpty && turn.toOrchestrator.isEmpty) }
        let same = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"region": "south"}}"#)
        #expect(same.1.status == .ok && same.2["run"]?.integer == 1 && same.2["repeated"]?.bool == true)
        let fewer = management.call("start", #"{"flow": "payments/eod", "key": "k1"}"#)
        #expect(fewer.1.status == .ok && fewer.2["run"]?.integer == 1 && fewer.2["repeated"]?.bool == true)
        let unknown = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"regoin": "south"}}"#)
        #expect(unknown.2["error"]?.string == "key \"k1\" started run 1 of payments/eod, whose parameter \"regoin\" was none: a key names one start; use another key")
        // A name given twice is refused, as without a key (it once counted with its last value, while a field
        // given twice counted with its first: found by an explorer); so is a value no parameter can have.
        let twice = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"region": "north", "region": "south"}}"#)
        #expect(twice.1.status == .invalid, "\(twice.2.rendered())")
        let bad = management.call("start", #"{"flow": "payments/eod", "key": "k1", "params": {"region": null}}"#)
        #expect(bad.1.status == .invalid, "\(bad.2.rendered())")
    }

    @Test func aLateAnswerToAnOlderSetPolicyDoesNotUndoANewerOne() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        func sent(_ turn: ManagementTurn) -> OperationRequest? {
            if case .operationRequest(let operation)? = turn.toOrchestrator.first { operation } else { nil }
        }
        let a = sent(management.call("set-policy", #"{"product": "payments", "actor": "alice", "weight": 3}"#).0)
        let b = sent(management.call("set-policy", #"{"product": "payments", "actor": "alice", "cap": 20}"#).0)
        guard let a, let b else { Issue.record("no operations"); return }
        // B's answer comes first (A's was lost, and its resend is answered later).
        management.core.orchestratorMessage(.operationResult(OperationResult(request: b.request, status: .ok)), now: management.now)
        management.core.orchestratorMessage(.operationResult(OperationResult(request: a.request, status: .ok)), now: management.now)
        _ = management.core.finishTurn()
        #expect(management.core.products["payments"]?.policy.summary == "weight 3, cap 20, rate none, burst default")
        let c = sent(management.call("set-policy", #"{"product": "payments", "actor": "alice", "burst": 5}"#).0)
        #expect(c?.policy.summary == "weight 3, cap 20, rate none, burst 5")
    }

    /// A move binds the product's new runs to the shard once the orchestrator answers it; runs started
    /// before stay where they are, and `products` shows them finishing there.
    @Test func aMoveSwitchesTheProductsNewRunsOnceAnswered() {
        var management = ManagementHarness()
        management.startRuns(1)
        let from = management.core.products["payments"]!.shard
        let to: UInt32 = from == 1 ? 2 : 1
        func sent(_ turn: ManagementTurn) -> OperationRequest? {
            if case .operationRequest(let operation)? = turn.toOrchestrator.first { operation } else { nil }
        }
        let move = sent(management.call("move", #"{"product": "payments", "actor": "alice", "to": \#(to)}"#).0)
        #expect(move?.action == .move && move?.shard == to && move?.policy.product == "payments")
        // Until it is answered: starts go where they went, and another move or a policy waits.
        #expect(sent(management.call("start", #"{"flow": "payments/eod"}"#).0)?.shard == from)
        #expect(management.call("move", #"{"product": "payments", "actor": "alice", "to": \#(from)}"#).2["error"]?.string
            == "product payments is already moving to shard \(to); try again once it has")
        #expect(management.call("set-policy", #"{"product": "payments", "actor": "alice", "weight": 2}"#).2["error"]?.string
            == "product payments is moving to shard \(to); set its policy once it has")
        let requested = management.call("products", "{}").2["products"]?.array?.first?["move"]
        #expect(requested?.rendered() == #"{"phase":"requested","to":\#(to),"finishing":[]}"#)
        management.core.orchestratorMessage(.operationResult(OperationResult(request: move!.request, status: .ok, detail: "moved")), now: management.now)
        let answered = management.core.finishTurn()
        #expect(answered.products.map(\.shard) == [to])
        #expect(sent(management.call("start", #"{"flow": "payments/eod"}"#).0)?.shard == to)
        let second = management.call("start", #"{"flow": "payments/eod"}"#)
        management.core.orchestratorMessage(.operationResult(OperationResult(request: sent(second.0)!.request, status: .accepted)), now: management.now)
        _ = management.core.finishTurn()
        let product = management.call("products", "{}").2["products"]?.array?.first
        #expect(product?["shard"]?.integer == Int64(to))
        // The run started before the move, and the one started while it was asked, are open on the old shard.
        #expect(product?["move"]?.rendered() == #"{"phase":"finishing","finishing":[{"shard":\#(from),"open_runs":2}]}"#, "\(product?.rendered() ?? "")")
        #expect(management.call("move", #"{"product": "payments", "actor": "alice", "to": \#(to)}"#).2["error"]?.string
            == "product payments is already on shard \(to)")
    }

    /// Management measures each product's jobs ended a second, and binds a new product to the shard
    /// whose products end the fewest.
    @Test func aNewProductGoesToTheShardWithTheLeastMeasuredLoad() {
        var management = ManagementHarness(shards: [1, 2])
        management.startRuns(3)
        let busy = management.core.products["payments"]!.shard
        // payments' three runs end, a job each, 10 s after management started.
        management.now = management.now.adding(milliseconds: 10_000)
        for run in 1...3 {
            let status = RunStatus(
                run: UInt64(run), product: "payments", flow: "eod", state: .succeeded, jobs: 1, succeeded: 1, started: management.now.wire,
                finished: management.now.wire, time: management.now.wire)
            management.core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: UInt64(run), updates: [status])), now: management.now)
        }
        _ = management.core.finishTurn()
        #expect(abs(management.core.load.rate(of: "payments", now: management.now) - 0.3) < 1e-9)
        // A new product goes to the other shard, whose products ended nothing. Those after it count as the
        // measured product does (found by an operator: 520 products applied at once all went to the shard
        // least loaded when they came, since a new one adds no load), so a batch spreads.
        let names = ["trading", "risk", "credit", "fx", "cards", "loans", "treasury"]
        _ = management.apply(names.map { ManagementHarness.flow.replacingOccurrences(of: "payments", with: $0) })
        #expect(management.core.products["trading"]?.shard == (busy == 1 ? 2 : 1))
        let shards = Dictionary(grouping: management.core.products.values, by: \.shard).mapValues(\.count)
        #expect(shards == [1: 4, 2: 4], "\(shards)")
        #expect(management.call("products", "{}").2["products"]?.array?.first { $0["product"]?.string == "payments" }?["load"]?.rendered() == "0.30")
    }

    @Test func afterTheOrchestratorsLogLostEventsEveryOpenRunIsReadAgain() {
        var management = ManagementHarness()
        management.startRuns(2)
        // FETCHED 410: what management missed is gone from the orchestrator's log.
        management.core.orchestratorMessage(.fetched(Fetched(status: .gone, epoch: 1, sequence: 90, oldest: 50)), now: management.now)
        let turn = management.core.finishTurn()
        let queries = turn.toOrchestrator.compactMap { message -> RunQuery? in
            if case .runQuery(let query) = message { query } else { nil }
        }
        #expect(queries.map(\.run) == [1, 2])
        // Only the runs' states are wanted, not their jobs.
        #expect(queries.allSatisfy { $0.limit == 0 })
        let ended = RunStatus(
            run: 1, product: "payments", flow: "eod", state: .succeeded, jobs: 1, succeeded: 1, started: management.now.wire,
            finished: management.now.wire, time: management.now.wire)
        management.core.orchestratorMessage(.runDetail(RunDetail(request: queries[0].request, status: .ok, run: ended, jobs: [])), now: management.now)
        let applied = management.core.finishTurn()
        #expect(applied.runs.map(\.state) == [.succeeded] && applied.replies.isEmpty)
        #expect(management.core.runs[1]?.state == .succeeded && management.core.runs[2]?.state == .running)
        // A query not answered is asked again while its run is open.
        management.now = management.now.adding(milliseconds: 60_000)
        management.core.tick(now: management.now)
        let again = management.core.finishTurn().toOrchestrator.compactMap { message -> UInt64? in
            if case .runQuery(let query) = message { query.run } else { nil }
        }
        #expect(again == [2])
    }

    /// Under durability normal a power loss can take from the orchestrator a start it had answered: when it
    /// starts again, management reads every open run again, and ends failed one it no longer has.
    @Test func afterTheOrchestratorRestartsEveryOpenRunIsReadAgainAndOneItLostEndsFailed() {
        var management = ManagementHarness()
        management.startRuns(2)
        let running = RunStatus(
            run: 2, product: "payments", flow: "eod", state: .running, jobs: 1, started: management.now.wire, finished: 0,
            time: management.now.wire)
        management.core.orchestratorMessage(
            .runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: 1, updates: [running])), now: management.now)
        _ = management.core.finishTurn()
        // Epoch 2 began after sequence 1: nothing management applied was lost, but the orchestrator restarted.
        management.core.orchestratorMessage(.fetched(Fetched(status: .ok, epoch: 2, sequence: 1, oldest: 1, first: 2)), now: management.now)
        let queries = management.core.finishTurn().toOrchestrator.compactMap { message -> RunQuery? in
            if case .runQuery(let query) = message { query } else { nil }
        }
        #expect(queries.map(\.run) == [1, 2])
        let unknown = RunStatus(run: 1, product: "", flow: "", state: .failed, jobs: 0, started: 0, time: 0)
        management.core.orchestratorMessage(
            .runDetail(RunDetail(request: queries[0].request, status: .notFound, run: unknown, jobs: [])), now: management.now)
        management.core.orchestratorMessage(
            .runDetail(RunDetail(request: queries[1].request, status: .ok, run: running, jobs: [])), now: management.now)
        let turn = management.core.finishTurn()
        #expect(turn.runs.map(\.id) == [1])
        #expect(management.core.runs[1]?.state == .failed && management.core.runs[2]?.state == .running)
        #expect(management.core.runs[1]?.detail.contains("the orchestrator no longer has this run") == true)
    }

    /// Found by review: a flow stored with a schedule that never fires, applied before such schedules
    /// were refused, lost its schedule on the next start; it is read back as it was applied.
    @Test func aStoredScheduleThatNeverFiresIsReadBackAsApplied() {
        var snapshot = ManagementSnapshot()
        let start = Timestamp(milliseconds: 1_795_000_000_000)
        snapshot.products = [ProductRecord(name: "payments", shard: 1, created: start)]
        snapshot.flows = [FlowRecord(
            product: "payments", flow: "eod", version: 1, definition: ManagementHarness.flow, params: ["region": "north"], jobs: 1,
            applied: start, schedule: #"{"cron": "0 0 30 2 *"}"#)]
        var management = ManagementHarness()
        management.core = ManagementCore(configuration: ManagementConfiguration(shards: [1]), restoring: snapshot, now: start)
        let (_, reply, body) = management.call("schedule", #"{"flow": "payments/eod"}"#)
        #expect(reply.status == .ok, "\(body.rendered())")
        #expect(body["cron"]?.string == "0 0 30 2 *" || body["schedule"]?["cron"]?.string == "0 0 30 2 *", "\(body.rendered())")
    }

    /// Seed 4036 of the simulator: management restarts with open runs, whatever its stored stream position
    /// says, and reads each of them again from the orchestrator; an ended run is not asked about.
    /// Found by an operator: `baton drain 3` moved shard 3's products off, and the next `apply` of a new
    /// product bound it to shard 3, the least loaded now; `rebalance` planned moves back onto it. A
    /// drained shard takes no new product and no move, and `products` says it is drained, until `undrain`.
    @Test func aDrainedShardTakesNoNewProduct() {
        var management = ManagementHarness(shards: [1, 2, 3])
        let (turn, drained, answer) = management.call("drain", #"{"shard": 3, "actor": "alice", "request": "retire-3"}"#)
        #expect(drained.status == .ok && answer["action"]?.string == "drain" && answer["options"]?.string == "shard 3", "\(drained.body)")
        #expect(answer["detail"]?.string?.hasPrefix("shard 3 is drained: no new product is bound to it") == true, "\(drained.body)")
        #expect(turn.drains == [3: true] && turn.audit.map(\.method) == ["drain"] && turn.toOrchestrator.isEmpty)
        // Six new products, none on shard 3, though it is the least loaded.
        let names = ["a", "b", "c", "d", "e", "f"]
        _ = management.call("apply", JSON.object([("files", .array(names.map { name in
            JSON.object([("path", .string("\(name).json")), ("text", .string(ManagementHarness.flow.replacingOccurrences(of: "payments", with: name)))])
        }))]).rendered())
        #expect(names.map { management.core.products[$0]?.shard ?? 0 }.sorted() == [1, 1, 1, 2, 2, 2])
        let listed = management.call("products", "{}").2
        #expect(listed["drained"]?.rendered() == "[3]" && listed["shards"]?.rendered() == "[1,2,3]")
        // A move onto it is refused, naming the way out.
        let (moveTurn, move, refusal) = management.call("move", #"{"product": "a", "actor": "alice", "to": 3}"#)
        #expect(move.status == .conflict && moveTurn.toOrchestrator.isEmpty)
        #expect(refusal["error"]?.string == "move: shard 3 is drained: it takes no products; `baton undrain 3` opens it again")
        // Sent again under its request ID, the drain is answered as done, and changes nothing more.
        let (againTurn, again, repeated) = management.call("drain", #"{"shard": 3, "actor": "alice", "request": "retire-3"}"#)
        #expect(again.status == .ok && repeated["repeated"]?.bool == true && !againTurn.needsCommit)
        #expect(management.call("undrain", #"{"shard": 3, "actor": "alice", "request": "retire-3"}"#).2["error"]?.string?
            .hasPrefix(#"request ID "retire-3" was already used for drain (shard 3) at "#) == true)
        // Opened again, it takes the next new product, and moves.
        let (undrainTurn, undrained, opened) = management.call("undrain", #"{"shard": 3, "actor": "alice"}"#)
        #expect(undrained.status == .ok && opened["detail"]?.string == "shard 3 is open again: new products may be bound to it, and products moved onto it")
        #expect(undrainTurn.drains == [3: false] && management.call("products", "{}").2["drained"]?.rendered() == "[]")
        _ = management.apply(ManagementHarness.flow)
        #expect(management.core.products["payments"]?.shard == 3)
        let (opened3, _, _) = management.call("move", #"{"product": "a", "actor": "alice", "to": 3}"#)
        #expect(opened3.operations.map(\.shard) == [3])
    }

    /// With every shard drained there is nowhere to bind a new product: `apply` of one is refused, saying
    /// so, and nothing is applied; a new version of a known product's flow is applied as ever.
    @Test func withEveryShardDrainedANewProductIsRefusedSayingSo() {
        var management = ManagementHarness(shards: [1, 2])
        _ = management.apply(ManagementHarness.flow)
        for shard in [1, 2] { #expect(management.call("drain", #"{"shard": \#(shard), "actor": "alice"}"#).1.status == .ok) }
        let other = ManagementHarness.flow.replacingOccurrences(of: "payments", with: "trading")
        let changed = ManagementHarness.flow.replacingOccurrences(of: "north", with: "south")
        let (turn, refused, answer) = management.apply(changed, other)
        #expect(refused.status == .conflict && !turn.needsCommit, "\(refused.body)")
        #expect(answer["error"]?.string == "nothing was applied: every shard is drained (1, 2), so no shard takes the new product trading; `baton undrain SHARD` opens one again")
        let (_, applied, _) = management.apply(changed)
        #expect(applied.status == .ok && management.core.flows["payments/eod"]?.version == 2)
    }

    /// What `drain` cannot do is refused, naming why, and changes nothing.
    @Test func aDrainOfAnUnknownShardOrWithoutAnActorIsRefused() {
        var management = ManagementHarness(shards: [1, 2])
        for (body, status, error) in [
            (#"{"shard": 7, "actor": "alice"}"#, Status.notFound, "the cluster has no shard 7 (shards: 1, 2)"),
            (#"{"shard": 1}"#, .badRequest, "drain needs \"actor\": who asks (1 to 255 octets), for the audit log"),
            (#"{"actor": "alice"}"#, .badRequest, "drain needs \"shard\": the ID of a shard of the cluster (1 to 65535)"),
            (#"{"shard": "1", "actor": "alice"}"#, .badRequest, #"drain: "shard" takes a whole number, not "1""#),
            (#"{"shard": 1, "actor": "alice", "product": "p"}"#, .badRequest, "drain: unknown field \"product\"; it reads shard, actor, request"),
        ] {
            let (turn, reply, answer) = management.call("drain", body)
            #expect(reply.status == status && answer["error"]?.string == error, "\(body): \(reply.body)")
            #expect(!turn.needsCommit && management.core.drained.isEmpty)
        }
        // Undrained when not drained: said so, and audited.
        let (turn, reply, answer) = management.call("undrain", #"{"shard": 2, "actor": "alice"}"#)
        #expect(reply.status == .ok && answer["detail"]?.string == "shard 2 was not drained" && turn.drains.isEmpty && turn.audit.count == 1)
    }

    /// Management keeps its drained shards across a restart; one no longer in the configuration is
    /// forgotten, so that a shard added again under its ID starts open.
    @Test func drainedShardsAreRestoredAndOneNoLongerConfiguredIsForgotten() {
        var snapshot = ManagementSnapshot()
        snapshot.drained = [2, 4]
        var core = ManagementCore(configuration: ManagementConfiguration(shards: [1, 2, 3]), restoring: snapshot, now: Timestamp(milliseconds: 1_000))
        #expect(core.drained == [2])
        #expect(core.finishTurn().drains == [4: false])
    }

    @Test func everyOpenRunIsReadAgainWhenManagementStarts() {
        var snapshot = ManagementSnapshot()
        let start = Timestamp(milliseconds: 1_000)
        snapshot.runs = [
            RunRecord(id: 4, product: "payments", flow: "eod", version: 1, shard: 1, moment: 1, params: [:], state: .running, jobs: 1, started: start),
            RunRecord(id: 5, product: "payments", flow: "eod", version: 1, shard: 1, moment: 2, params: [:], state: .succeeded, jobs: 1, started: start),
            RunRecord(id: 7, product: "payments", flow: "eod", version: 1, shard: 1, moment: 3, params: [:], state: .paused, jobs: 1, started: start),
        ]
        snapshot.position = StreamPosition(publisher: StreamNames.orchestrator, epoch: 3, sequence: 900)
        var core = ManagementCore(configuration: ManagementConfiguration(shards: [1]), restoring: snapshot, now: start)
        core.tick(now: start)
        let queried = core.finishTurn().toOrchestrator.compactMap { message -> UInt64? in
            if case .runQuery(let query) = message { query.run } else { nil }
        }
        #expect(queried == [4, 7])
    }

    /// Seed 8077 of the simulator: the orchestrator's clock stepped back, so a rerun's statuses carry times
    /// before the failure management holds; the stream is in the orchestrator's order, and they apply.
    @Test func aRerunsStatusesFromTheStreamApplyThoughTheOrchestratorsClockSteppedBack() {
        var management = ManagementHarness()
        management.startRuns(1)
        func status(_ state: RunState, time: Int64, sequence: UInt64) {
            let update = RunStatus(
                run: 1, product: "payments", flow: "eod", state: state, jobs: 1, started: management.now.wire,
                finished: state.isFinal ? UInt64(time) : 0, time: UInt64(time))
            management.core.orchestratorMessage(
                .runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: sequence, updates: [update])), now: management.now)
            _ = management.core.finishTurn()
        }
        let now = management.now.milliseconds
        status(.failed, time: now + 5_000, sequence: 1)
        #expect(management.core.runs[1]?.state == .failed)
        status(.running, time: now + 2_000, sequence: 2)
        #expect(management.core.runs[1]?.state == .running)
        status(.succeeded, time: now + 3_000, sequence: 3)
        #expect(management.core.runs[1]?.state == .succeeded)
    }

    /// After a power loss under durability normal, management may give out an ID the orchestrator already
    /// has, for another flow: the orchestrator refuses that start, and its own run's statuses, under the
    /// same ID, are not management's run's.
    @Test func aStatusOfAnotherRunUnderTheSameIDIsNotTaken() {
        var management = ManagementHarness()
        management.startRuns(1)
        management.published(.succeeded, product: "ledger", flow: "close", sequence: 1)
        #expect(management.core.runs[1]?.state == .running)
        // The same product with another flow is another run too.
        management.published(.failed, flow: "close", sequence: 2)
        #expect(management.core.runs[1]?.state == .running)
        management.published(.succeeded, sequence: 3)
        #expect(management.core.runs[1]?.state == .succeeded)
    }

    /// The ID given out again for the same flow (at another entry moment): the orchestrator refuses the
    /// start, and its own run's statuses under the ID, of the same flow, are still not this run's.
    @Test func aRunWhoseStartWasRefusedTakesNoStatusUnderItsID() throws {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (started, _, _) = management.call("start", #"{"flow": "payments/eod"}"#)
        let request = try #require(started.operations.first { $0.action == .start }?.request)
        management.core.orchestratorMessage(
            .operationResult(OperationResult(
                request: request, status: .conflict, detail: "run 1 is already payments/eod with entry moment 5: management gave out its ID again")),
            now: management.now)
        _ = management.core.finishTurn()
        #expect(management.core.runs[1]?.state == .failed)
        management.published(.succeeded, sequence: 1)
        #expect(management.core.runs[1]?.state == .failed)
        #expect(management.core.runs[1]?.detail.hasPrefix("the orchestrator refused the run: run 1 is already payments/eod") == true)
    }

    /// Found by an operator: a run the orchestrator refused (its shard unknown to it) was listed by `runs`,
    /// and `status` of it said "unknown run" (404), asked of the orchestrator, which holds no run of a
    /// start it refused. `status` answers from management's record, saying why it failed, without asking.
    @Test func statusOfARunWhoseStartWasRefusedIsManagementsRecord() throws {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (started, _, _) = management.call("start", #"{"flow": "payments/eod"}"#)
        let request = try #require(started.operations.first { $0.action == .start }?.request)
        management.core.orchestratorMessage(
            .operationResult(OperationResult(request: request, status: .badRequest, detail: "shard 4 is not one this orchestrator knows")), now: management.now)
        _ = management.core.finishTurn()
        let (turn, reply, body) = management.call("status", #"{"run": 1}"#)
        #expect(reply.status == .ok && turn.toOrchestrator.isEmpty, "\(reply.body)")
        #expect(body["run"]?["state"]?.string == "failed" && body["jobs"]?.rendered() == "[]" && body["next"] == nil)
        #expect(body["run"]?["detail"]?.string == "the orchestrator refused the run: shard 4 is not one this orchestrator knows")
    }

    @Test func aResynchronisationReadsEveryRunHeldAFewAtATime() {
        var management = ManagementHarness()
        management.startRuns(20)
        func queried(_ turn: ManagementTurn) -> [RunQuery] {
            turn.toOrchestrator.compactMap { if case .runQuery(let query) = $0 { query } else { nil } }
        }
        management.core.orchestratorMessage(.fetched(Fetched(status: .gone, epoch: 1, sequence: 90, oldest: 50)), now: management.now)
        let first = queried(management.core.finishTurn())
        #expect(first.map(\.run) == Array(1...16))
        // Each answer lets the next run be asked.
        let status = RunStatus(
            run: 1, product: "payments", flow: "eod", state: .running, jobs: 1, started: management.now.wire, finished: 0,
            time: management.now.wire)
        management.core.orchestratorMessage(.runDetail(RunDetail(request: first[0].request, status: .ok, run: status, jobs: [])), now: management.now)
        let next = management.core.finishTurn()
        #expect(queried(next).map(\.run) == [17])
        #expect(next.runs.isEmpty, "a status that says nothing new is not written again")
    }

    @Test func anUnansweredOperationIsSentAgainUntilTheOrchestratorAnswers() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        management.now = management.now.adding(milliseconds: 2000)
        management.core.tick(now: management.now)
        #expect(management.core.finishTurn().toOrchestrator.count == 1)
        // Request 1 is the apply's audit entry; the start's operation is 2.
        management.core.orchestratorMessage(.operationResult(OperationResult(request: 2, status: .accepted)), now: management.now)
        #expect(management.core.finishTurn().answered == [2])
        management.now = management.now.adding(milliseconds: 60_000)
        management.core.tick(now: management.now)
        #expect(management.core.finishTurn().toOrchestrator.allSatisfy { if case .operationRequest = $0 { false } else { true } })
    }

    @Test func anUnansweredOperationWaitsTwiceAsLongEachTimeUpToTheMaximum() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let sent = management.now
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        var resent: [Int64] = []
        for second in 1...70 {
            management.now = sent.adding(milliseconds: Int64(second) * 1000)
            management.core.tick(now: management.now)
            if management.core.finishTurn().toOrchestrator.contains(where: { if case .operationRequest = $0 { true } else { false } }) {
                resent.append(Int64(second))
            }
        }
        #expect(resent == [2, 6, 14, 30, 60])
    }

    @Test func statusIsAnsweredFromTheOrchestratorsDetailOrTimesOut() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let (asked, _, _) = management.call("status", #"{"run": 1}"#)
        guard case .runQuery(let query) = asked.toOrchestrator.first else { Issue.record("no query"); return }
        #expect(asked.replies.isEmpty)
        let run = RunStatus(run: 1, product: "payments", flow: "eod", state: .succeeded, jobs: 1, succeeded: 1, started: 1, time: 2)
        let detail = RunDetail(request: query.request, status: .ok, run: run, jobs: [JobStatus(run: 1, job: "a", state: .succeeded, attempts: 1, time: 2)])
        management.core.orchestratorMessage(.runDetail(detail), now: management.now)
        let answered = management.core.finishTurn()
        guard case .apiReply(let reply) = answered.replies.first?.1 else { Issue.record("no reply"); return }
        let body = try! JSONParser.parse(reply.body)
        #expect(body["run"]?["state"]?.string == "succeeded")
        #expect(body["jobs"]?.array?.first?["attempts"]?.integer == 1)
        _ = management.call("status", #"{"run": 1}"#)
        management.now = management.now.adding(milliseconds: 5000)
        management.core.tick(now: management.now)
        guard case .apiReply(let late) = management.core.finishTurn().replies.first?.1 else { Issue.record("no timeout"); return }
        #expect(late.status == .unavailable)
    }

    @Test func statusAsksForThePageOfJobsItWasGivenAndSaysWhereTheNextBegins() throws {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let (asked, _, _) = management.call("status", #"{"run": 1, "from": 2, "limit": 2}"#)
        guard case .runQuery(let query) = asked.toOrchestrator.first else { Issue.record("no query"); return }
        #expect(query.first == 2 && query.limit == 2)
        // The orchestrator answers jobs 2 and 3 of 5.
        let run = RunStatus(run: 1, product: "payments", flow: "eod", state: .running, jobs: 5, started: 1, time: 2)
        let jobs = ["c", "d"].map { JobStatus(run: 1, job: $0, state: .waiting, time: 2) }
        management.core.orchestratorMessage(.runDetail(RunDetail(request: query.request, status: .ok, run: run, first: 2, jobs: jobs)), now: management.now)
        guard case .apiReply(let reply) = management.core.finishTurn().replies.first?.1 else { Issue.record("no reply"); return }
        let body = try JSONParser.parse(reply.body)
        #expect(body["jobs"]?.array?.compactMap { $0["job"]?.string } == ["c", "d"])
        #expect(body["next"]?.integer == 4)
        // Without a page, every job up to the page's most is asked for.
        let (plain, _, _) = management.call("status", #"{"run": 1}"#)
        guard case .runQuery(let whole) = plain.toOrchestrator.first else { Issue.record("no query"); return }
        #expect(whole.first == 0 && whole.limit == RunQuery.pageLimit)
        for (body, error) in [
            (#"{"run": 1, "from": -1}"#, #"status: "from" takes a job's position, a whole number from 0, not -1"#),
            (#"{"run": 1, "limit": 10001}"#, #"status: "limit" takes a whole number from 0 to 10000, not 10001"#),
        ] {
            let (turn, refused, answer) = management.call("status", body)
            #expect(refused.status == .badRequest && answer["error"]?.string == error, "\(refused.body)")
            #expect(turn.toOrchestrator.isEmpty)
        }
        // The audit log pages too.
        let (_, tooMany, tooManyBody) = management.call("history", #"{"run": 1, "limit": 0}"#)
        #expect(tooMany.status == .badRequest && tooManyBody["error"]?.string == #"history: "limit" takes a whole number from 1 to 10000, not 0"#)
        let (_, badCursor, badCursorBody) = management.call("history", #"{"run": 1, "before": "x"}"#)
        #expect(badCursor.status == .badRequest && badCursorBody["error"]?.string == #"history: "before" takes a whole number, not "x""#)
    }

    @Test func runUpdatesKeepTheRunsStatus() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let status = RunStatus(run: 1, product: "payments", flow: "eod", state: .succeeded, jobs: 1, succeeded: 1, started: 1, finished: 9, time: 9)
        management.core.orchestratorMessage(.runUpdates(RunUpdates(publisher: "orchestrator", epoch: 1, sequence: 1, updates: [status])), now: management.now)
        let turn = management.core.finishTurn()
        #expect(turn.runs.first?.state == .succeeded)
        #expect(turn.position?.sequence == 1)
        #expect(management.core.runs[1]?.state == .succeeded)
        // `runs` is read from the store, after the turn's commit.
        let (listing, _, _) = management.call("runs", #"{"state": "succeeded", "limit": 5}"#)
        #expect(listing.runLists.map(\.listing) == [RunListing(state: .succeeded, limit: 5)])
    }

    @Test func malformedRequestsAreRefusedWithAClearError() {
        var management = ManagementHarness()
        #expect(management.call("start", "{").1.status == .badRequest)
        #expect(management.call("start", "[]").2["error"]?.string == "the request body must be a JSON object")
        let unknown = management.call("frobnicate", "{}")
        #expect(unknown.1.status == .notFound)
        #expect(
            unknown.2["error"]?.string
                == "unknown method \"frobnicate\" (methods: apply, start, status, runs, flows, flow, products, stop, pause, resume, rerun, "
                + "rerun-job, mark-succeeded, hold, release, set-policy, move, drain, undrain, set-priority, workers, queue, waits, attempts, history, "
                + "schedule, calendars, schedules, fire, keys, ping)")
        #expect(management.call("apply", "{}").1.status == .badRequest)
        #expect(management.call("status", #"{"run": "1"}"#).2["error"]?.string == #"status: "run" takes a whole number, not "1""#)
        #expect(management.call("status", #"{}"#).2["error"]?.string == "status needs \"run\": a run ID")
    }

    /// Found by an explorer: a field of the wrong type, or one a method does not read, was ignored, so that
    /// a start with a numeric `key` ran twice when retried, and `"downstrem": true` reran one job only, audited
    /// as asked. Each is refused 400 naming the field, and nothing is sent or written.
    @Test func aFieldOfTheWrongKindOrUnknownIsRefusedNamingIt() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        for (method, body, error) in [
            ("start", #"{"flow": "payments/eod", "key": 5}"#, #"start: "key" takes a string, not 5"#),
            ("start", #"{"flow": "payments/eod", "params": []}"#, #"start: "params" takes an object, not []"#),
            ("start", #"{"flow": "payments/eod", "parms": {"region": "south"}}"#,
             #"start: unknown field "parms" (did you mean "params"?); it reads flow, key, params, priority"#),
            ("start", #"{"flow": "payments/eod", "key": null}"#, #"start: "key" takes a string, not null"#),
            ("rerun-job", #"{"run": 1, "job": "a", "downstrem": true, "actor": "t"}"#,
             #"rerun-job: unknown field "downstrem" (did you mean "downstream"?); it reads request, actor, run, fresh, job, downstream"#),
            ("rerun-job", #"{"run": 1, "job": "a", "downstream": "true", "actor": "t"}"#, #"rerun-job: "downstream" takes true or false, not "true""#),
            ("rerun", #"{"run": 1, "actor": "t", "fresh": "yes"}"#, #"rerun: "fresh" takes true or false, not "yes""#),
            ("hold", #"{"product": "payments", "actor": "t", "request": 7}"#, #"hold: "request" takes a string, not 7"#),
            ("status", #"{"run": 1, "bogus": 1}"#, #"status: unknown field "bogus"; it reads run, from, limit"#),
            ("ping", #"{"hello": 1}"#, #"ping: unknown field "hello"; it takes no field"#),
            ("set-priority", #"{"run": 1, "priority": true, "actor": "t"}"#, #"set-priority: "priority" takes a string or a whole number, not true"#),
            ("runs", #"{"limit": 2.5}"#, #"runs: "limit" takes a whole number, not 2.5"#),
            ("start", #"{"flow": "payments/eod", "key": "a", "key": "b"}"#, #"start: "key" is given twice"#),
        ] {
            let (turn, refused, answer) = management.call(method, body)
            #expect(refused.status == .badRequest && answer["error"]?.string == error, "\(method) \(body): \(refused.body)")
            #expect(turn.toOrchestrator.isEmpty && turn.auditAnswers.isEmpty, "\(method) \(body)")
        }
        // A NUL in a parameter's value would cut the variable the job reads.
        let (_, nul, nulBody) = management.call("start", #"{"flow": "payments/eod", "params": {"region": "a\u0000b"}}"#)
        #expect(nul.status != .ok && (nulBody["problems"]?.array ?? []).contains { $0.string?.contains("contains a NUL") == true }, "\(nul.body)")
        let (_, twice, twiceBody) = management.call("start", #"{"flow": "payments/eod", "params": {"region": "a", "region": "b"}}"#)
        #expect(twice.status != .ok && (twiceBody["problems"]?.array ?? []).contains { $0.string == #"parameter "region": given twice"# }, "\(twice.body)")
        // The timer's `fire` takes `run` as a Boolean.
        let (_, fire, fireBody) = management.call("fire", #"{"flow": "payments/eod", "instant": 1, "run": 1}"#)
        #expect(fire.status == .badRequest && fireBody["error"]?.string == #"fire: "run" takes true or false, not 1"#)
        #expect(management.call("schedule", #"{"flow": "payments/eod", "next": 1001}"#).2["error"]?.string
            == "\"next\" takes a whole number from 0 to 1000, not 1001")
    }

    @Test func anActionSentAgainIsAnsweredWithTheFirstOutcomeWhateverElseItCarries() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let (turn, _, _) = management.call("stop", #"{"run": 1, "actor": "alice", "request": "r1"}"#)
        guard case .operationRequest(let stop) = turn.toOrchestrator.first else { Issue.record("no stop"); return }
        management.core.orchestratorMessage(.operationResult(OperationResult(request: stop.request, status: .ok, detail: "stopping")), now: management.now)
        #expect(management.core.finishTurn().replies.count == 1)
        let again = management.call("stop", #"{"request": "r1"}"#)
        #expect(again.1.status == .ok && again.2["repeated"]?.bool == true && again.2["detail"]?.string == "stopping")
        #expect(again.0.toOrchestrator.isEmpty && !again.0.needsCommit)
        let otherMethod = management.call("pause", #"{"request": "r1"}"#)
        #expect(otherMethod.1.status == .conflict)
        // The same action on another run is another action (found by an explorer: the second of two runs paused
        // under one ticket number was answered as a repeat, and never paused).
        _ = management.call("start", #"{"flow": "payments/eod"}"#)
        let otherRun = management.call("stop", #"{"run": 2, "actor": "alice", "request": "r1"}"#)
        #expect(otherRun.1.status == .conflict && otherRun.0.toOrchestrator.isEmpty)
        #expect(otherRun.2["error"]?.string?.hasPrefix(#"request ID "r1" was already used for stop of run 1 at "#) == true, "\(otherRun.1.body)")
        // An unknown run is named before a wrong option.
        let unknownRun = management.call("rerun-job", #"{"run": 9, "actor": "alice", "fresh": true}"#)
        #expect(unknownRun.1.status == .notFound && unknownRun.2["error"]?.string == "unknown run 9")
        let noJob = management.call("rerun-job", #"{"run": 1, "actor": "alice", "fresh": true}"#)
        #expect(noJob.2["error"]?.string == "rerun-job needs \"job\": the job's name")
        let fresh = management.call("stop", #"{"run": 1, "actor": "alice", "fresh": true}"#)
        #expect(fresh.2["error"]?.string == "\"fresh\" applies to rerun and rerun-job only")
    }

    @Test func setPolicyAddsKeyWeightsUpToTheLimitAndCommitsThePolicyOnceApplied() {
        var management = ManagementHarness()
        _ = management.apply(ManagementHarness.flow)
        let (turn, _, _) = management.call("set-policy", #"{"product": "payments", "actor": "alice", "weight": 3, "key_weights": {"acme": 3, "zeta": 2}}"#)
        guard case .operationRequest(let operation) = turn.toOrchestrator.first else { Issue.record("no operation"); return }
        #expect(operation.policy.keyWeights == [KeyWeight(key: "acme", weight: 3), KeyWeight(key: "zeta", weight: 2)])
        // The product's policy changes when the orchestrator has applied it, not before.
        #expect(turn.products.isEmpty && management.core.products["payments"]?.policy.weight == 1)
        // A second change before the first is answered goes over the first.
        let (second, _, _) = management.call("set-policy", #"{"product": "payments", "actor": "alice", "key_weights": {"acme": 1}}"#)
        guard case .operationRequest(let next) = second.toOrchestrator.first else { Issue.record("no operation"); return }
        #expect(next.policy.weight == 3 && next.policy.keyWeights == [KeyWeight(key: "zeta", weight: 2)])
        management.core.orchestratorMessage(.operationResult(OperationResult(request: operation.request, status: .ok)), now: management.now)
        let applied = management.core.finishTurn()
        #expect(applied.products.first?.policy.weight == 3)
        #expect(turn.audit.first?.options == applied.products.first?.policy.summary)
        management.core.orchestratorMessage(.operationResult(OperationResult(request: next.request, status: .ok)), now: management.now)
        _ = management.core.finishTurn()
        #expect(management.core.products["payments"]?.policy.keyWeights == [KeyWeight(key: "zeta", weight: 2)])
        // A change the orchestrator refuses changes nothing.
        let (third, _, _) = management.call("set-policy", #"{"product": "payments", "actor": "alice", "weight": 9}"#)
        guard case .operationRequest(let refusedChange) = third.toOrchestrator.first else { Issue.record("no operation"); return }
        management.core.orchestratorMessage(
            .operationResult(OperationResult(request: refusedChange.request, status: .notFound, detail: "shard 7 is not one this orchestrator knows")),
            now: management.now)
        let refusedTurn = management.core.finishTurn()
        #expect(refusedTurn.products.isEmpty && management.core.products["payments"]?.policy.weight == 3)
        #expect(refusedTurn.auditAnswers.first?.status == 404)
        let (fourth, _, _) = management.call("set-policy", #"{"product": "payments", "actor": "alice", "cap": 4}"#)
        #expect(fourth.audit.first?.options.hasPrefix("weight 3, cap 4") == true, "\(fourth.audit)")
        let many = JSON.object((0..<ProductPolicy.keyWeightLimit).map { ("k\($0)", JSON.number(2)) })
        let body = JSON.object([("product", .string("payments")), ("actor", .string("alice")), ("key_weights", many)])
        let (refused, reply, error) = management.call("set-policy", body.rendered())
        #expect(reply.status == .badRequest && !refused.needsCommit)
        #expect(error["error"]?.string == "set-policy: at most \(ProductPolicy.keyWeightLimit) fairness keys may have a weight")
        let nothing = management.call("set-policy", #"{"product": "payments", "actor": "alice"}"#)
        #expect(nothing.2["error"]?.string?.hasPrefix("set-policy: give at least one of") == true)
    }

    /// Ties `docs/api.md` to ``ManagementAPI/methods``: each method is in the document's table of methods, and each
    /// field a method reads is written in the document.
    @Test func everyMethodAndFieldIsInTheAPIDocument() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/api.md"), encoding: .utf8)
        let table = document.split(separator: "\n").prefix { !$0.hasPrefix("## ") }.filter { $0.hasPrefix("| `") }
        for method in ManagementAPI.methods {
            #expect(table.contains { $0.contains("`\(method.name)`") }, "docs/api.md does not list \(method.name)")
            for field in method.fields {
                #expect(document.contains("\"\(field)\""), "docs/api.md does not mention \(method.name)'s field \"\(field)\"")
            }
        }
    }
}

/// `products` and `flows` answer a page at a time, in name order, with the cursor of the next.
@Suite struct ListingPageTests {
    @Test func productsAndFlowsArePagedInNameOrderWithEachProductsCountOfFlows() throws {
        var management = ManagementHarness()
        var files: [String] = []
        for product in 0..<250 {
            for flow in 0..<(product % 3 + 1) {
                files.append(#"{"product": "p\#(String(format: "%03d", product))", "flow": "f\#(flow)", "jobs": [{"name": "a", "run": "true"}]}"#)
            }
        }
        let (_, applied, _) = management.call("apply", APIAccessTests.files(files))
        #expect(applied.status == .ok)
        var products: [String] = []
        var counts: [Int] = []
        var after: String?
        repeat {
            let body = after.map { #"{"limit": 100, "after": "\#($0)"}"# } ?? #"{"limit": 100}"#
            let page = management.call("products", body).2
            products += (page["products"]?.array ?? []).compactMap { $0["product"]?.string }
            counts += (page["products"]?.array ?? []).compactMap { $0["flows"]?.integer }.map(Int.init)
            after = page["next"]?.string
        } while after != nil
        #expect(products == (0..<250).map { "p" + String(format: "%03d", $0) })
        #expect(counts == (0..<250).map { $0 % 3 + 1 })
        let first = management.call("flows", #"{"limit": 2}"#).2
        #expect(first["flows"]?.array?.compactMap { $0["flow"]?.string } == ["p000/f0", "p001/f0"] && first["next"]?.string == "p001/f0")
        let second = management.call("flows", #"{"limit": 2, "after": "p001/f0"}"#).2
        #expect(second["flows"]?.array?.compactMap { $0["flow"]?.string } == ["p001/f1", "p002/f0"])
        #expect(management.call("flows", #"{"limit": 0}"#).1.status == .badRequest)
        #expect(management.call("products", #"{"limit": 10001}"#).1.status == .badRequest)
    }
}
