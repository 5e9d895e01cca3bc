/// An operational failure of a service: it cannot bind, its store failed, its configuration is wrong.
///
/// The message names what failed and why, for a person to act on.
public struct ServiceError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
