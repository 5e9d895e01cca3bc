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

    /// The public key of a secret key (`zmq_curve_public`), both as 40 Z85 characters; nil for a string that
    /// is not a Z85 key.
    public static func publicKey(ofSecret secretKey: String) -> String? {
        guard secretKey.utf8.count == 40 else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        return decodeCString(publicKey)
    }

    /// 32 octets of a key as 40 Z85 characters (RFC 32).
    public static func z85(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, key, key.count) != nil else { return nil }
        return decodeCString(text)
    }

    /// Whether `text` is a key in Z85: 40 characters of its alphabet that decode.
    public static func isKey(_ text: String) -> Bool {
        guard text.utf8.count == 40 else { return false }
        var octets = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&octets, text) != nil
    }

    private static func decodeCString(_ characters: [CChar]) -> String {
        let bytes = characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
