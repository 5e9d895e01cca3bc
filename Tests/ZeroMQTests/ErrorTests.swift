import Glibc
import Testing
import ZeroMQ

@Test
func bindingAnInvalidEndpointThrowsTheErrnoAndNamesTheEndpoint() throws {
    let context = try Context()
    let router = try Socket(context, type: .router)
    let error = try #require(throws: ZMQError.self) { try router.bind("tcp://nonsense") }
    #expect(error.code == EINVAL)
    #expect(error.operation == "bind tcp://nonsense")
    #expect(error.message == String(cString: strerror(EINVAL)))
    #expect(error.description.contains("bind tcp://nonsense"))
    #expect(!error.isTerminated && !error.isHostUnreachable)
}

@Test
func connectingOverAnUnknownTransportThrowsProtocolNotSupported() throws {
    let context = try Context()
    let dealer = try Socket(context, type: .dealer)
    let error = try #require(throws: ZMQError.self) { try dealer.connect("carrier-pigeon://roof") }
    #expect(error.code == EPROTONOSUPPORT)
    #expect(error.operation == "connect carrier-pigeon://roof")
}

@Test
func closedSocketThrowsNotASocketAndCloseIsIdempotent() throws {
    let context = try Context()
    let dealer = try Socket(context, type: .dealer)
    dealer.close()
    dealer.close()
    let sendError = #expect(throws: ZMQError.self) { try dealer.send(bytes("late")) }
    #expect(sendError == ZMQError(code: ENOTSOCK, operation: "send"))
    let receiveError = #expect(throws: ZMQError.self) { try dealer.receive(dontWait: true) }
    #expect(receiveError == ZMQError(code: ENOTSOCK, operation: "receive"))
}

@Test
func errorsAreEqualWhenCodeAndOperationMatch() {
    #expect(ZMQError(code: EINVAL, operation: "send") == ZMQError(code: EINVAL, operation: "send"))
    #expect(ZMQError(code: EINVAL, operation: "send") != ZMQError(code: EAGAIN, operation: "send"))
    #expect(ZMQError(code: EINVAL, operation: "send") != ZMQError(code: EINVAL, operation: "poll"))
}
