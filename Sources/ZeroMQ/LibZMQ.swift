internal import CZeroMQ

/// Facts about the libzmq library this process linked against.
public enum LibZMQ {
    /// The runtime libzmq version (`zmq_version`), e.g. `(4, 3, 4)`.
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether libzmq was built with `capability` (`zmq_has`), e.g. `"curve"`, `"ipc"` or `"draft"`.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) == 1
    }
}
