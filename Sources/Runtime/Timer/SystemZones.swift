public import Core
import Foundation
import Synchronization

/// The system's time zone database: TZif files under `$TZDIR`, or `/usr/share/zoneinfo` (Debian's
/// `tzdata`). Zones are read once and kept.
public final class SystemZones: Sendable {
    /// The process's database.
    public static let shared = SystemZones()

    /// Where the files are.
    public let directory: String
    private let cache = Mutex<[String: Zone]>([:])

    public init(directory: String? = nil) {
        self.directory = directory ?? ProcessInfo.processInfo.environment["TZDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/share/zoneinfo"
    }

    /// The zone of that name, or nil if the database has none by it (or its file cannot be read).
    public func zone(_ name: String) -> Zone? {
        if name == "UTC" { return .utc }
        if let zone = cache.withLock({ $0[name] }) { return zone }
        guard Zone.isValidName(name), let data = FileManager.default.contents(atPath: "\(directory)/\(name)"),
            let zone = try? Zone.parse(tzif: [UInt8](data), name: name)
        else { return nil }
        cache.withLock { $0[name] = zone }
        return zone
    }

    /// The lookup the cores take.
    public var lookup: ZoneLookup { { [self] name in zone(name) } }
}
