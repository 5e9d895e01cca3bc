public import Core
import Wire
public import ZeroMQ

/// Where the timer finds management.
public struct TimerSettings: Sendable {
    /// Management's API endpoint.
    public var api: String
    /// How often to check that management answers, in milliseconds.
    public var interval: Int64 = 10_000

    public init(api: String) { self.api = api }
}

/// The timer's event loop. Flows have no schedules yet, so the timer only keeps in touch with
/// management and says so in its log when it loses or regains it; firing comes with schedules.
public enum TimerService {
    public static func run(_ settings: TimerSettings, context: Context, clock: any WallClock = SystemClock(), log: Log, control: ServiceControl) throws {
        let api = try Sockets.connected(context, .dealer, to: settings.api)
        var poller = Poller()
        let apiIndex = poller.add(api)
        _ = poller.add(fileDescriptor: control.doorbell.fileDescriptor)
        var nextCheck = clock.now()
        var outstanding: UInt64?
        var reachable: Bool?
        var request: UInt64 = 0
        log.info("started", ["management": settings.api, "schedules": "0"])
        control.ready()
        while !control.isStopping {
            _ = try poller.poll(timeoutMilliseconds: Sockets.timeout(until: nextCheck, now: clock.now()))
            control.doorbell.drain()
            if poller.ready(apiIndex).contains(.readable) {
                while let frames = try api.receive(dontWait: true) {
                    guard frames.count == 1, case .apiReply(let reply)? = try? Message.decode(frames[0]), reply.request == outstanding else { continue }
                    outstanding = nil
                    if reachable != true { log.info("management answers", ["api": settings.api]) }
                    reachable = true
                }
            }
            let now = clock.now()
            guard now >= nextCheck else { continue }
            if outstanding != nil, reachable != false {
                log.warning("management does not answer", ["api": settings.api])
                reachable = false
            }
            request += 1
            outstanding = request
            _ = try api.send(Message.apiRequest(APIRequest(request: request, method: "ping")).encoded(), dontWait: true)
            nextCheck = now.adding(milliseconds: settings.interval)
        }
        log.info("stopped")
    }
}
