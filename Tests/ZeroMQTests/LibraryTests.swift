import Testing
import ZeroMQ

@Test
func linkedLibraryIsLibzmq4_3WithCurve() {
    let version = LibZMQ.version
    #expect(version.major == 4)
    #expect(version.minor >= 3)
    #expect(LibZMQ.has("curve"))
    #expect(!LibZMQ.has("no-such-capability"))
}
