/// The largest values the codec accepts, as documented in `docs/protocol.md` ("Limits").
public enum Limits {
    /// The largest frame a peer may send, in octets (64 MiB).
    public static let frame = 64 << 20
    /// The longest `longstr`, in octets (1 MiB).
    public static let longstr = 1 << 20
    /// The longest `bytes` field, in octets (16 MiB).
    public static let chunk = 16 << 20
    /// The most elements in one list, `strings` or `hash` (1,000,000).
    public static let listCount = 1_000_000
}
