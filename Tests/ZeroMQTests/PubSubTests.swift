import Testing
import ZeroMQ

@Test(arguments: Transport.allCases)
func subscriberReceivesOnlyMessagesMatchingItsPrefix(over transport: Transport) throws {
    let context = try Context()
    let publisher = try makeSocket(context, .pub)
    let subscriber = try makeSocket(context, .sub)
    try subscriber.subscribe("jobs.")
    try link(publisher, subscriber, over: transport)
    let probe = [bytes("jobs.probe")]
    try awaitSubscription(publisher: publisher, subscriber: subscriber, probe: probe)

    // One connection keeps order, so a delivered non-match would arrive before the match.
    try publisher.send([bytes("flows.done"), [1]])
    try publisher.send([bytes("jobs.done"), [2]])
    #expect(try receive(subscriber, skipping: probe) == [bytes("jobs.done"), [2]])
}

@Test
func unsubscribedPrefixIsNoLongerDelivered() throws {
    let context = try Context()
    let publisher = try makeSocket(context, .pub)
    let subscriber = try makeSocket(context, .sub)
    try subscriber.subscribe([0x01])
    try subscriber.subscribe([0x02])
    try link(publisher, subscriber, over: .inproc)
    try awaitSubscription(publisher: publisher, subscriber: subscriber, probe: [[0x01, 0xFF]])

    try subscriber.unsubscribe([0x02])
    // Subscription changes travel upstream in order: once the 0x03 probe arrives, the unsubscribe has landed.
    try subscriber.subscribe([0x03])
    try awaitSubscription(publisher: publisher, subscriber: subscriber, probe: [[0x03, 0xFF]])

    try publisher.send([[0x02, 0x00]])
    try publisher.send([[0x01, 0x00]])
    var next = try #require(try subscriber.receive())
    while next == [[0x01, 0xFF]] || next == [[0x03, 0xFF]] {
        next = try #require(try subscriber.receive())
    }
    #expect(next == [[0x01, 0x00]])
}
