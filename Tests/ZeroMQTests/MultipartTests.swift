import Glibc
import Testing
import ZeroMQ

@Test(arguments: Transport.allCases)
func multipartRoundTripsFromPushToPull(over transport: Transport) throws {
    let context = try Context()
    let pull = try makeSocket(context, .pull)
    let push = try makeSocket(context, .push)
    try link(pull, push, over: transport)

    #expect(try push.send(awkwardMessage))
    let received = try #require(try pull.receive())
    #expect(received == awkwardMessage)
}

@Test(arguments: Transport.allCases)
func multipartRoundTripsBetweenDealerAndRouter(over transport: Transport) throws {
    let context = try Context()
    let router = try makeSocket(context, .router)
    let dealer = try makeSocket(context, .dealer)
    try link(router, dealer, over: transport)

    #expect(try dealer.send(awkwardMessage))
    let request = try #require(try router.receive())
    #expect(request.count == awkwardMessage.count + 1)
    #expect(Array(request.dropFirst()) == awkwardMessage)

    let routingID = request[0]
    #expect(try router.send([routingID] + awkwardMessage.reversed()))
    let reply = try #require(try dealer.receive())
    #expect(reply == Array(awkwardMessage.reversed()))
}

@Test(arguments: Transport.allCases)
func singleFramesAroundTheInlineLimitRoundTrip(over transport: Transport) throws {
    let context = try Context()
    let pull = try makeSocket(context, .pull)
    let push = try makeSocket(context, .push)
    try link(pull, push, over: transport)

    for size in [0, 1, 32, 33, 34, 35, 4096] {
        let frame = pattern(size, seed: UInt8(size % 251))
        #expect(try push.send(frame))
        #expect(try pull.receive() == [frame], "frame of \(size) bytes")
    }
}

@Test(arguments: Transport.allCases)
func routerReplyReachesOnlyTheDealerItIsAddressedTo(over transport: Transport) throws {
    let context = try Context()
    let router = try makeSocket(context, .router)
    try router.bind(transport.bindEndpoint("router"))
    let endpoint = try router.lastEndpoint
    let dealerA = try makeSocket(context, .dealer)
    let dealerB = try makeSocket(context, .dealer)
    try dealerA.setRoutingID(bytes("worker-a"))
    try dealerB.setRoutingID(bytes("worker-b"))
    try dealerA.connect(endpoint)
    try dealerB.connect(endpoint)

    // The router can only route to peers that have spoken, and learns their routing ids from it.
    try dealerA.send(bytes("hello from a"))
    try dealerB.send(bytes("hello from b"))
    var routingIDs: [[UInt8]: [UInt8]] = [:]
    for _ in 0..<2 {
        let message = try #require(try router.receive())
        try #require(message.count == 2)
        routingIDs[message[1]] = message[0]
    }
    let idA = try #require(routingIDs[bytes("hello from a")])
    let idB = try #require(routingIDs[bytes("hello from b")])
    #expect(idA == bytes("worker-a"))
    #expect(idB == bytes("worker-b"))

    // Reply to B first: if routing were wrong, A's first message would be B's reply.
    try router.send([idB, bytes("for b")])
    try router.send([idA, bytes("for a")])
    #expect(try dealerA.receive() == [bytes("for a")])
    #expect(try dealerB.receive() == [bytes("for b")])
}

@Test
func mandatoryRouterRejectsAnUnknownRoutingIDAsHostUnreachable() throws {
    let context = try Context()
    let router = try makeSocket(context, .router)
    try router.bind("inproc://router")

    // Without the option the message vanishes silently.
    #expect(try router.send([bytes("nobody"), bytes("lost")], dontWait: true))

    try router.setRouterMandatory(true)
    let error = #expect(throws: ZMQError.self) {
        try router.send([bytes("nobody"), bytes("job")], dontWait: true)
    }
    #expect(error?.isHostUnreachable == true)
    #expect(error?.operation == "send")
}

@Test
func sendingAMessageWithoutFramesIsRejected() throws {
    let context = try Context()
    let push = try makeSocket(context, .push)
    let error = #expect(throws: ZMQError.self) { try push.send([[UInt8]]()) }
    #expect(error?.code == EINVAL)
}
