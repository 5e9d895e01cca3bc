import Core
import Runtime
import Wire
import ZeroMQ

/// What one load run saw: the load's runs and their jobs, and the moments that bound its windows.
struct Observation {
    /// One job of a run the load started.
    struct Job {
        var product: Int
        var record: JobRecord
    }

    var jobs: [Job]
    /// Runs started, by product.
    var runsStarted: [Int]
    var runsEnded: Int
    /// Runs in which a job failed.
    var runsFailed: Int
    /// When the first start was sent, ms since the Unix epoch.
    var begin: UInt64
    /// When starting stopped: the last start, or the end of `--duration`.
    var submissionEnd: UInt64
    /// When the measurement ended: the last job's end, or the drain's.
    var end: UInt64
    /// When the last start was sent.
    var lastStart: UInt64
    /// Whether the drain ran out with runs still open.
    var drainedOut: Bool
    /// Runs stopped at the end because they were still open (against a running cluster only).
    var runsStopped: Int
    /// Messages of the shards' event logs that never arrived.
    var missedEvents: UInt64
    /// The shards' wait estimates asked while the load ran (`--estimates`).
    var estimates: [EstimateSampler.Sample] = []
}

/// Starts the load's runs at its pace, over a DEALER to management with many requests outstanding, and
/// follows them on the shards' event streams, both sockets polled by this one thread.
///
/// Starts are pipelined (the protocol lets a client have several requests outstanding and match the
/// answers by request number), so an open loop keeps its pace while management is busy answering.
final class LoadDriver {
    private let options: LoadOptions
    private let workload: Workload
    private let target: LoadTarget
    private let socket: Socket
    private let watch: JobWatch
    /// Starts sent and not yet answered: the product, and when it was sent (µs).
    private var outstanding: [UInt64: (product: Int, sent: UInt64)] = [:]
    private var nextRequest: UInt64 = 1
    /// No request below this one is waiting for its answer.
    private var oldestRequest: UInt64 = 1
    /// The load's runs, with their products.
    private var runs: [UInt64: Int] = [:]
    private var runsEnded = 0
    private var sent = 0
    /// A start unanswered for this long means management is not answering.
    private let answerLimit: UInt64 = 10_000_000

    init(options: LoadOptions, workload: Workload, target: LoadTarget, watch: JobWatch) throws {
        self.options = options
        self.workload = workload
        self.target = target
        self.watch = watch
        socket = try Socket(target.context, type: .dealer)
        try socket.setMaxMessageSize(Int64(Limits.frame + 1024))
        try socket.setSendHighWaterMark(0)
        try target.secure(socket, for: "management")
        try socket.connect(target.api)
    }

    /// Starts runs until `--runs` or `--duration` says to stop, then waits up to `--drain` for the
    /// open ones to end.
    func run() throws(LoadFailure) -> Observation {
        var poller = Poller()
        let apiIndex = poller.add(socket)
        let eventsIndex = watch.register(in: &poller)
        let begin = Handlers.microseconds()
        let stopStarting = begin + UInt64(options.duration * 1_000_000)
        var submissionEnd: UInt64?
        var lastStart = begin
        var drainEnd = UInt64.max
        while true {
            let now = Handlers.microseconds()
            if submissionEnd == nil {
                if sent == options.runs || now >= stopStarting {
                    submissionEnd = sent == options.runs ? lastStart : stopStarting
                    drainEnd = now + UInt64(options.drain * 1_000_000)
                } else {
                    let due: Int
                    switch options.pace {
                    case .rate(let rate): due = min(options.runs, Int(Double(now - begin) / 1_000_000 * rate) + 1)
                    case .concurrency(let open): due = min(options.runs, runsEnded + open)
                    }
                    while sent < due {
                        try start(product: workload.product(ofRun: sent))
                        lastStart = Handlers.microseconds()
                    }
                }
            }
            // Requests are numbered in the order sent, so the lowest unanswered one is the oldest.
            while oldestRequest < nextRequest && outstanding[oldestRequest] == nil { oldestRequest += 1 }
            if let oldest = outstanding[oldestRequest], now > oldest.sent + answerLimit {
                throw LoadFailure(.unavailable, "management at \(target.api) did not answer a start within \(answerLimit / 1_000_000) s")
            }
            if submissionEnd != nil && outstanding.isEmpty && runsEnded == sent { break }
            if now >= drainEnd { break }

            var wait: UInt64 = 50_000
            if submissionEnd == nil {
                wait = min(wait, stopStarting - now)
                if case .rate(let rate) = options.pace {
                    let next = begin + UInt64(Double(sent) / rate * 1_000_000)
                    wait = min(wait, next > now ? next - now : 0)
                }
            } else {
                wait = min(wait, drainEnd - now)
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: Int(wait / 1000))
                if poller.ready(eventsIndex).contains(.readable) {
                    try watch.receive()
                    // Before the answers: a run whose answer comes now is counted there, if it has ended.
                    for run in watch.takeEnded() where runs[run] != nil { runsEnded += 1 }
                }
                if poller.ready(apiIndex).contains(.readable) { try receiveAnswers() }
            } catch let failure as LoadFailure {
                throw failure
            } catch {
                throw LoadFailure(.unavailable, "cannot poll the cluster's sockets: \(error)")
            }
        }
        let finished = Handlers.microseconds()
        let drainedOut = runsEnded < sent
        let stopped = drainedOut && !target.isEmbedded ? stopOpenRuns() : 0
        return observation(
            begin: begin / 1000, submissionEnd: (submissionEnd ?? lastStart) / 1000, lastStart: lastStart / 1000,
            finished: finished / 1000, drainedOut: drainedOut, stopped: stopped)
    }

    private func start(product: Int) throws(LoadFailure) {
        let request = nextRequest
        nextRequest += 1
        let body = JSON.object([("flow", .string("\(workload.products[product])/\(workload.scenario.flow)"))])
        let message = Message.apiRequest(APIRequest(request: request, method: "start", body: body.rendered()))
        do {
            guard try socket.send(message.encoded(), dontWait: false) else {
                throw LoadFailure(.unavailable, "cannot send a start to management at \(target.api)")
            }
        } catch let failure as LoadFailure {
            throw failure
        } catch {
            throw LoadFailure(.unavailable, "cannot send a start to management at \(target.api): \(error)")
        }
        outstanding[request] = (product, Handlers.microseconds())
        sent += 1
    }

    /// Notes the run each answered start began; a refusal ends the load, since every later start
    /// would be refused alike.
    private func receiveAnswers() throws {
        while let frames = try socket.receive(dontWait: true) {
            guard frames.count == 1, let message = try? Message.decode(frames[0]) else { continue }
            if case .disconnect(let disconnect) = message {
                throw LoadFailure(.unavailable, "management refused the connection: \(disconnect.reason)")
            }
            guard case .apiReply(let reply) = message, let product = outstanding.removeValue(forKey: reply.request)?.product else { continue }
            let body = (try? JSONParser.parse(reply.body)) ?? .object([("error", .string(reply.body))])
            guard reply.status.isSuccess, let run = body["run"]?.integer, run > 0 else {
                let flow = "\(workload.products[product])/\(workload.scenario.flow)"
                throw LoadFailure(.unavailable, "management refused to start \(flow) (\(reply.status)): \(body["error"]?.string ?? reply.body)")
            }
            runs[UInt64(run)] = product
            if watch.hasEnded(UInt64(run)) { runsEnded += 1 }
        }
    }

    /// Stops the load's runs still open, so that a running cluster is not left with the load's
    /// backlog; gives up after 30 seconds. Returns how many were stopped.
    private func stopOpenRuns() -> Int {
        guard let client = try? target.apiClient() else { return 0 }
        let deadline = Handlers.microseconds() + 30_000_000
        var stopped = 0
        for run in runs.keys.sorted() where !watch.hasEnded(run) && Handlers.microseconds() < deadline {
            let body = JSON.object([("run", .number(run)), ("actor", .string("baton-load")), ("request", .string("baton-load-stop-\(run)"))])
            if let reply = try? client.call("stop", body), reply.status.isSuccess { stopped += 1 }
        }
        return stopped
    }

    /// The load's jobs and counts; `finished` is when the loop ended (ms), the end of the measurement if
    /// the drain ran out.
    private func observation(
        begin: UInt64, submissionEnd: UInt64, lastStart: UInt64, finished: UInt64, drainedOut: Bool, stopped: Int
    ) -> Observation {
        var jobs: [Observation.Job] = []
        var latestFinish: UInt64 = 0
        for (key, record) in watch.jobs {
            guard let product = runs[key.run] else { continue }
            jobs.append(Observation.Job(product: product, record: record))
            latestFinish = max(latestFinish, record.finished)
        }
        var runsStarted = Array(repeating: 0, count: workload.products.count)
        for product in runs.values { runsStarted[product] += 1 }
        let failed = runs.keys.filter { watch.progress[$0]?.failed == true }.count
        return Observation(
            jobs: jobs, runsStarted: runsStarted, runsEnded: runsEnded, runsFailed: failed, begin: begin,
            submissionEnd: submissionEnd, end: drainedOut ? finished : max(latestFinish, begin),
            lastStart: lastStart, drainedOut: drainedOut, runsStopped: stopped, missedEvents: watch.missed)
    }

    func close() { socket.close() }
}
