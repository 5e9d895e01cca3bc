/// One SQLite value, as bound to a parameter or read from a column.
public enum SQLValue: Equatable, Sendable {
    /// SQL NULL, which is distinct from an empty text or an empty blob.
    case null
    /// A 64-bit signed integer.
    case integer(Int64)
    /// A 64-bit IEEE floating-point number.
    case real(Double)
    /// UTF-8 text; it may contain NUL characters.
    case text(String)
    /// Raw bytes; an empty blob is not NULL.
    case blob([UInt8])
}
