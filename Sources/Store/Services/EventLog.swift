public import Core

/// A publisher's durable event log: every message it published, by sequence number, so that a
/// subscriber that missed some can fetch them (the Clone pattern).
///
/// The log keeps at least the last 100,000 messages and every message of the last 24 hours (of the
/// cluster's retention, if shorter), as long as they take no more than its size limit (4 GiB unless the
/// cluster file says otherwise); beyond it, the oldest go first, down to the last 1,000.
public struct EventLog {
    let database: Database
    /// The octets its frames take, counted when first needed and kept up to date since.
    private let octets = Octets()

    private final class Octets {
        var count: Int64?
    }

    /// The messages kept whatever their age, within the size limit.
    public static let retainedMessages: UInt64 = 100_000
    /// The messages kept whatever their age and size.
    public static let keptAlways: UInt64 = 1000
    /// The age under which a message is kept whatever the count, in milliseconds.
    public static let retainedAge: Int64 = Defaults.eventRetention

    static let schema = """
        CREATE TABLE events (
            sequence INTEGER PRIMARY KEY,
            epoch INTEGER NOT NULL,
            time INTEGER NOT NULL,
            frame BLOB NOT NULL
        );
        """

    /// Appends one published message; inside the turn's transaction.
    func append(sequence: UInt64, epoch: UInt32, time: Timestamp, frame: [UInt8]) throws {
        let statement = try database.prepare("INSERT INTO events (sequence, epoch, time, frame) VALUES (?, ?, ?, ?)")
        statement.bind(1, Int64(sequence))
        statement.bind(2, Int64(epoch))
        statement.bind(3, time.milliseconds)
        statement.bind(4, frame)
        try statement.run()
        if let count = octets.count { octets.count = count + Int64(frame.count) }
    }

    /// The octets the logged frames take.
    public func size() throws -> Int64 {
        if let count = octets.count { return count }
        let statement = try database.prepare("SELECT COALESCE(SUM(length(frame)), 0) FROM events")
        defer { statement.reset() }
        _ = try statement.step()
        octets.count = statement.int64(0)
        return statement.int64(0)
    }

    /// The sequence of the current epoch's first message (FETCHED's `first`); 0 for a log whose epoch
    /// began before it was recorded.
    public func epochFirst() throws -> UInt64 {
        UInt64(max(0, try database.meta("epoch_first") ?? 0))
    }

    /// The sequence of the last message, or 0.
    public func newest() throws -> UInt64 { try database.newestEvent() }

    /// The sequence of the oldest message kept, or 0 when the log is empty.
    public func oldest() throws -> UInt64 {
        let statement = try database.prepare("SELECT COALESCE(MIN(sequence), 0) FROM events")
        defer { statement.reset() }
        _ = try statement.step()
        return UInt64(statement.int64(0))
    }

    /// Up to `limit` logged frames after `sequence`, in order, and no more once they take `budget`
    /// octets: the first is always given, however large, so that a reader always moves on.
    public func frames(after sequence: UInt64, limit: Int, budget: Int = .max) throws -> [[UInt8]] {
        let statement = try database.prepare("SELECT length(frame), frame FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?")
        statement.bind(1, Int64(clamping: sequence))
        statement.bind(2, Int64(limit))
        defer { statement.reset() }
        var frames: [[UInt8]] = []
        var size = 0
        while try statement.step() {
            let length = Int(statement.int64(0))
            if !frames.isEmpty && length > budget - size { break }
            size += length
            frames.append(statement.blob(1))
        }
        return frames
    }

    /// Deletes the oldest messages, at most `batch` of them, while they are either older than
    /// `retention` (``retainedAge`` unless the cluster file says otherwise) and outside the last
    /// ``retainedMessages``, or the log takes more than `size` octets and they are outside the last
    /// ``keptAlways``: called often, so that no call is long. Returns how many it deleted.
    @discardableResult
    public func trim(now: Timestamp, retention: Int64 = EventLog.retainedAge, size limit: Int64 = Defaults.eventLogSize, batch: Int = 10_000) throws -> Int {
        let newest = try newest()
        guard newest > Self.keptAlways else { return 0 }
        var held = try size()
        let expired = now.milliseconds - retention
        return try database.transaction {
            let oldest = try database.prepare("SELECT sequence, time, length(frame) FROM events ORDER BY sequence LIMIT ?")
            oldest.bind(1, Int64(batch))
            defer { oldest.reset() }
            var last: Int64 = 0
            var deleted = 0
            while try oldest.step() {
                let sequence = UInt64(oldest.int64(0))
                let old = oldest.int64(1) < expired && sequence + Self.retainedMessages <= newest
                let over = held > limit && sequence + Self.keptAlways <= newest
                guard old || over else { break }
                last = Int64(sequence)
                deleted += 1
                held -= oldest.int64(2)
            }
            oldest.reset()
            guard deleted > 0 else { return 0 }
            let delete = try database.prepare("DELETE FROM events WHERE sequence <= ?")
            delete.bind(1, last)
            try delete.run()
            octets.count = held
            return deleted
        }
    }
}

extension Database {
    /// Runs a DELETE whose `?`s take `values` and then `limit`, the most rows it may delete (retention
    /// deletes a batch at a time); returns how many it deleted.
    func deleteBatch(_ sql: String, _ values: Int64..., limit: Int) throws -> Int {
        let statement = try prepare(sql)
        for (index, value) in values.enumerated() { statement.bind(Int32(index + 1), value) }
        statement.bind(Int32(values.count + 1), limit)
        try statement.run()
        return changes
    }

    /// An integer kept in the `meta` table.
    func meta(_ name: String) throws -> Int64? {
        let statement = try prepare("SELECT value FROM meta WHERE name = ?")
        statement.bind(1, name)
        defer { statement.reset() }
        return try statement.step() ? statement.int64(0) : nil
    }

    /// Sets an integer in the `meta` table.
    func setMeta(_ name: String, _ value: Int64) throws {
        let statement = try prepare(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
        statement.bind(1, name)
        statement.bind(2, value)
        try statement.run()
    }

    /// Starts a service's new epoch: one more than the last, committed before the service serves anyone,
    /// with the sequence its first message will have (``EventLog/epochFirst()``).
    func nextEpoch() throws -> UInt32 {
        try transaction {
            let epoch = UInt32(truncatingIfNeeded: (try meta("epoch") ?? 0) + 1)
            try setMeta("epoch", Int64(epoch))
            try setMeta("epoch_first", Int64(try newestEvent()) + 1)
            return epoch
        }
    }

    /// The sequence of the event log's last message, or 0.
    func newestEvent() throws -> UInt64 {
        let statement = try prepare("SELECT COALESCE(MAX(sequence), 0) FROM events")
        defer { statement.reset() }
        _ = try statement.step()
        return UInt64(statement.int64(0))
    }

    /// Opens a service's database with the durability asked for, a large cache, and checkpoints on a
    /// thread of their own. (Two processes never share a service's store: each holds its data folder's
    /// lock.)
    static func service(path: String, synchronous: Synchronous, migrations: [Migration]) throws -> Database {
        // A thread of its own checkpoints the log five times a second, so that the service's commits do
        // not; the writer's own checkpoint, at 10,000 pages (40 MB), is only a backstop. Past 2,048 pages
        // (8 MB) the writer copies the last few pages the thread has not, and the log starts again: under a
        // steady load it would otherwise seldom be found all copied, and grow to the backstop. A log written
        // over in place costs a commit less than one that grows, whose every page the file system must
        // allocate and zero, and whose every sync must also write the file's new size.
        //
        // The service is its store's one writer (it holds its data folder's lock, and the checkpoints' thread
        // writes no log), so its log's writes may be gathered (`shim.h`).
        //
        // The cache is kept small: reads of the file go through the memory map, and SQLite walks its whole
        // cache at the end of every transaction in which a B-tree balance swapped two pages' numbers. It
        // swaps them through the pending-byte page's number, far beyond the file's end, and the truncation
        // to the file's size at the commit then visits every cached page. With 64 MiB (16,384 pages) that
        // walk was 5% of a loaded shard's time; with 8 MiB it is an eighth of that.
        let options = Options(
            synchronous: synchronous, cacheKilobytes: 8 << 10, mmapBytes: 256 << 20, checkpointPages: 10_000,
            backgroundCheckpoints: .milliseconds(200), restartPages: 2048, gathersLogWrites: true)
        let database = try Database(path: path, options: options)
        try database.migrate(migrations)
        return database
    }
}
