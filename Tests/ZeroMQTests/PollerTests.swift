import Glibc
import Testing
import ZeroMQ

@Test
func pollerReportsAReadableSocketAndOnlyThatOne() throws {
    let context = try Context()
    let left = try makeSocket(context, .pair)
    let right = try makeSocket(context, .pair)
    try link(left, right, over: .inproc)
    let idle = try makeSocket(context, .pull)
    try idle.bind("inproc://idle")

    var poller = Poller()
    let rightIndex = poller.add(right)
    let idleIndex = poller.add(idle)
    try left.send(bytes("wake"))

    #expect(try poller.poll(timeoutMilliseconds: Int(guardMilliseconds)) == 1)
    #expect(poller.ready(rightIndex) == .readable)
    #expect(poller.ready(idleIndex).isEmpty)
    #expect(try right.receive(dontWait: true) == [bytes("wake")])
}

@Test
func pollerReportsAReadablePipe() throws {
    var descriptors: [Int32] = [-1, -1]
    try #require(Glibc.pipe(&descriptors) == 0)
    defer {
        Glibc.close(descriptors[0])
        Glibc.close(descriptors[1])
    }
    let context = try Context()
    let idle = try makeSocket(context, .pull)
    try idle.bind("inproc://idle")

    var poller = Poller()
    let socketIndex = poller.add(idle)
    let pipeIndex = poller.add(fileDescriptor: descriptors[0])
    var byte: UInt8 = 1
    try #require(Glibc.write(descriptors[1], &byte, 1) == 1)

    #expect(try poller.poll(timeoutMilliseconds: Int(guardMilliseconds)) == 1)
    #expect(poller.ready(pipeIndex).contains(.readable))
    #expect(poller.ready(socketIndex).isEmpty)
}

@Test
func pollerTimesOutWithNothingReady() throws {
    var descriptors: [Int32] = [-1, -1]
    try #require(Glibc.pipe(&descriptors) == 0)
    defer {
        Glibc.close(descriptors[0])
        Glibc.close(descriptors[1])
    }
    let context = try Context()
    let idle = try makeSocket(context, .pull)
    try idle.bind("inproc://idle")

    var poller = Poller()
    let socketIndex = poller.add(idle)
    let pipeIndex = poller.add(fileDescriptor: descriptors[0])
    #expect(try poller.poll(timeoutMilliseconds: 20) == 0)
    #expect(poller.ready(socketIndex).isEmpty)
    #expect(poller.ready(pipeIndex).isEmpty)
    #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
}

@Test
func pollingASocketClosedAfterItWasAddedThrowsNotASocket() throws {
    let context = try Context()
    let socket = try makeSocket(context, .pull)
    var poller = Poller()
    _ = poller.add(socket)
    socket.close()
    let error = #expect(throws: ZMQError.self) { try poller.poll(timeoutMilliseconds: 0) }
    #expect(error?.code == ENOTSOCK)
    #expect(error?.operation == "poll")
}
