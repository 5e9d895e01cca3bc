public import Core
import Wire
public import ZeroMQ

/// Where the timer finds management, and how it fires.
public struct TimerSettings: Sendable {
    /// Management's API endpoint.
    public var api: String
    /// The timer's name, recorded with each firing it sends.
    public var name: String
    /// How often to ask management whether schedules changed, in milliseconds.
    public var refresh: Int64 = 5000
    /// How late a firing may be and still count as on time, in milliseconds.
    public var grace: Int64 = 60_000
    /// Where time zones are found.
    public var zones: ZoneLookup = SystemZones.shared.lookup

    public init(api: String, name: String = "timer") {
        self.api = api
        self.name = name
    }
}

/// The timer's event loop: a DEALER to management's API, driving a ``TimerCore``.
public enum TimerService {
    public static func run(_ settings: TimerSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl) throws {
        let api = try Sockets.connected(context, .dealer, to: settings.api)
        var core = TimerCore(
            settings: {
                var core = TimerCore.Settings(name: settings.name, zones: settings.zones)
                core.refresh = settings.refresh
                core.grace = settings.grace
                return core
            }(), firstRequest: UInt64.random(in: 1...(UInt64.max >> 1)))
        var malformed = 0
        var poller = Poller()
        let apiIndex = poller.add(api)
        _ = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
        log.info("started", ["management": settings.api, "name": settings.name])
        control.ready()
        while !control.isStopping {
            _ = try poller.poll(timeoutMilliseconds: Sockets.timeout(until: core.nextDeadline(), now: clock.now()))
            control.doorbell.drain()
            if poller.ready(apiIndex).contains(.readable) {
                while let frames = try api.receive(dontWait: true) {
                    guard frames.count == 1, case .apiReply(let reply)? = try? Message.decode(frames[0]) else {
                        malformed += 1
                        if malformed == 1 || malformed % 1000 == 0 { log.warning("malformed reply from management dropped", ["count": String(malformed)]) }
                        continue
                    }
                    let body = (try? JSONParser.parse(reply.body)) ?? .object([])
                    core.reply(request: reply.request, status: reply.status, body: body, now: clock.now())
                }
            }
            core.tick(now: clock.now())
            let turn = core.finishTurn()
            for event in turn.events { record(event, log: log) }
            for request in turn.requests {
                let message = Message.apiRequest(APIRequest(request: request.id, method: request.method, body: request.body.rendered()))
                _ = try api.send(message.encoded(), dontWait: true)
            }
        }
        log.info("stopped", ["schedules": String(core.scheduleCount), "malformed": String(malformed)])
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
