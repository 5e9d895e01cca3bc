import Testing
import ZeroMQ

@Test
func receiveWithoutWaitingReturnsNilWhenNothingIsQueued() throws {
    let context = try Context()
    let pull = try makeSocket(context, .pull)
    let push = try makeSocket(context, .push)
    try link(pull, push, over: .inproc)

    #expect(try pull.receive(dontWait: true) == nil)
    try push.send(bytes("job"))
    #expect(try pull.receive() == [bytes("job")])
    #expect(try pull.receive(dontWait: true) == nil)
}

@Test
func sendWithoutWaitingReturnsFalseWhenAnImmediatePushHasNoPeer() throws {
    let context = try Context()
    let push = try makeSocket(context, .push)
    try push.setImmediate(true)
    // tcp, not inproc: an inproc connect to an unbound name creates its pipe at once, IMMEDIATE or not.
    try push.connect(try unusedLoopbackEndpoint())

    #expect(try push.send([bytes("job"), bytes("spec")], dontWait: true) == false)
    #expect(try push.send(bytes("job"), dontWait: true) == false)
}

@Test
func messageAboveTheMaximumSizeNeverArrivesOverTCP() throws {
    let context = try Context()
    let pull = try makeSocket(context, .pull)
    try pull.setMaxMessageSize(1024)
    let push = try makeSocket(context, .push)
    try link(pull, push, over: .tcp)

    // A message under the limit first, so a missing oversized one cannot be blamed on the connection.
    try push.send(pattern(1024))
    #expect(try pull.receive() == [pattern(1024)])

    try push.send(pattern(1025))
    // The only wait that must run out: it proves absence, so keep it short.
    try pull.setReceiveTimeout(milliseconds: 300)
    #expect(try pull.receive() == nil)
}

@Test
func writableEventsReflectWhetherAPeerIsConnected() throws {
    let context = try Context()
    let push = try makeSocket(context, .push)
    try push.setImmediate(true)
    try push.connect(try unusedLoopbackEndpoint())
    #expect(try push.events.contains(.writable) == false)

    let pull = try makeSocket(context, .pull)
    try link(pull, push, over: .inproc)
    try push.send(bytes("job"))
    #expect(try pull.events.contains(.readable))
    #expect(try push.events.contains(.writable))
}

@Test
func everyOptionSetterAcceptsATypicalValue() throws {
    let context = try Context(ioThreads: 2, maxSockets: 64)
    let dealer = try Socket(context, type: .dealer)
    try dealer.setLinger(milliseconds: 1000)
    try dealer.setSendHighWaterMark(500)
    try dealer.setReceiveHighWaterMark(500)
    try dealer.setImmediate(true)
    try dealer.setReconnectInterval(milliseconds: 100, maximum: 5000)
    try dealer.setTCPKeepalive(idleSeconds: 30, intervalSeconds: 5, count: 3)
    try dealer.setMaxMessageSize(1 << 20)
    try dealer.setRoutingID(bytes("worker-7"))
    try dealer.setSendTimeout(milliseconds: 100)
    try dealer.setReceiveTimeout(milliseconds: 100)
    try dealer.setHandshakeInterval(milliseconds: 5000)
    try dealer.setConnectTimeout(milliseconds: 3000)
    let router = try Socket(context, type: .router)
    try router.setRouterMandatory(true)
}

@Test
func invalidOptionValuesThrowWithTheOptionNamed() throws {
    let context = try Context()
    let dealer = try Socket(context, type: .dealer)
    let emptyID = #expect(throws: ZMQError.self) { try dealer.setRoutingID([]) }
    #expect(emptyID?.operation == "setsockopt ROUTING_ID")
    let shortKey = #expect(throws: ZMQError.self) { try dealer.setCurveServerKey("too short") }
    #expect(shortKey?.operation == "setsockopt CURVE_SERVERKEY")
    // SUBSCRIBE means nothing to a DEALER.
    #expect(throws: ZMQError.self) { try dealer.subscribe("jobs.") }
}
