public import Core
import Wire
public import ZeroMQ

/// Where the timer finds management, and how it fires.
public struct TimerSettings: Sendable {
    /// Management's API endpoint.
    public var api: String
    /// The core's settings: the timer's name, recorded with each firing it sends, how often it asks
    /// for schedules, how late a firing may be, and where time zones are found.
    public var configuration: TimerCore.Settings

    public init(api: String, name: String = "timer", zones: @escaping ZoneLookup = SystemZones.shared.lookup) {
        self.api = api
        configuration = TimerCore.Settings(name: name, zones: zones)
    }
}

/// The timer as ``ServiceLoop`` runs it: a DEALER to management's API, driving a ``TimerCore``. It
/// stores nothing: management decides and commits each firing.
public struct TimerService: Service {
    let settings: TimerSettings
    var core: TimerCore
    let log: Log
    /// Firings management decided, by outcome; firings caught up (missed) without running; refusals.
    var firings: [String: Int] = [:]
    var caughtUp = 0
    var refusals = 0

    var name: String { "timer" }
    var turnBudget: Int { 1000 }
    var sockets: [SocketPlan] { [.dealer("management", to: settings.api)] }

    public static func run(
        _ settings: TimerSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl,
        counters: ServiceCounters = ServiceCounters(), security: LoopSecurity? = nil
    ) throws {
        let core = TimerCore(settings: settings.configuration, firstRequest: UInt64.random(in: 1...(UInt64.max >> 1)))
        let service = TimerService(settings: settings, core: core, log: log)
        var loop = ServiceLoop(service: service, context: context, clock: clock, log: log, control: control, counters: counters, security: security)
        try loop.run(started: [("management", settings.api), ("name", settings.configuration.name)])
    }

    func nextDeadline() -> Timestamp { core.nextDeadline() }

    mutating func received(_ message: Message, on socket: Int, from peer: Peer?, sender: KeyIdentity?, now: Timestamp) throws -> Bool {
        guard case .apiReply(let reply) = message else { return false }
        core.reply(request: reply.request, status: reply.status, body: (try? JSONParser.parse(reply.body)) ?? .object([]), now: now)
        return true
    }

    mutating func endTurn(now: Timestamp) throws -> TurnEnd {
        core.tick(now: now)
        let turn = core.finishTurn()
        for event in turn.events {
            Self.record(event, log: log)
            count(event)
        }
        return TurnEnd(committed: false, actions: turn.deliveries.actions { $0 == .management ? 0 : nil })
    }

    mutating func count(_ event: TimerEvent) {
        switch event {
        case .fired(_, _, _, let outcome, _, _, let missed, _):
            firings[FiringRecord.Outcome(rawValue: outcome)?.rawValue ?? "other", default: 0] += 1
            caughtUp += Int(missed)
        case .refused: refusals += 1
        default: break
        }
    }

    func metrics(into metrics: inout Metrics, now: Timestamp) throws {
        metrics.gauge("baton_timer_schedules", "Schedules the timer fires.", core.scheduleCount)
        for outcome in FiringRecord.Outcome.allCases.map(\.rawValue) + ["other"] {
            metrics.counter("baton_timer_firings_total", "Firings management decided, by outcome: started a run, queued it, skipped it, or recorded it missed.", firings[outcome] ?? 0, .init("outcome", outcome))
        }
        metrics.counter("baton_timer_caught_up_total", "Firings missed while no timer ran (or it was late past its grace), caught up without running.", caughtUp)
        metrics.counter("baton_timer_refusals_total", "Requests management refused.", refusals)
    }

    static func record(_ event: TimerEvent, log: Log) {
        switch event {
        case .fired(let flow, let instant, let run, let outcome, let runID, let date, let missed, let detail):
            log.info(
                run ? "fired" : "caught up without running",
                [
                    "flow": flow, "instant": String(instant.milliseconds), "date": date, "outcome": outcome,
                    "run": runID == 0 ? "" : String(runID), "missed": String(missed), "detail": detail,
                ])
        case .repeated(let flow, let instant):
            log.debug("already decided", ["flow": flow, "instant": String(instant.milliseconds)])
        case .refused(let flow, let status, let message):
            log.warning("management refused", ["flow": flow ?? "", "status": String(status.rawValue), "error": message])
        case .unusable(let flow, let reason):
            log.error("cannot use a schedule", ["flow": flow, "reason": reason])
        case .schedules(let count, let generation):
            log.info("schedules", ["count": String(count), "generation": generation])
        case .silent:
            log.warning("management does not answer; asking again")
        case .answers:
            log.info("management answers")
        }
    }
}
