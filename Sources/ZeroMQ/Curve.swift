internal import CZeroMQ

/// CurveZMQ key material (RFC 26), as 40-character Z85 strings (RFC 32).
public enum Curve {
    /// Generates a new long-term key pair with `zmq_curve_keypair`; throws ENOTSUP when libzmq lacks CURVE.
    public static func keyPair() throws -> (publicKey: String, secretKey: String) {
        // Z85 encodes 32 bytes as 40 characters; libzmq writes a trailing NUL.
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("curve_keypair") }
        return (decodeCString(publicKey), decodeCString(secretKey))
    }

    private static func decodeCString(_ characters: [CChar]) -> String {
        let bytes = characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
