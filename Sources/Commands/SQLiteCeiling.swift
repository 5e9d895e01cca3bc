import Foundation
import Store

/// What this machine's SQLite does at the most for a durable queue, measured in the benchmark's own run
/// so that Baton's figure holds on any machine as a fraction of it: a job's row inserted, then updated
/// once (its end), 100 jobs to a transaction, with the benchmark's durability.
enum SQLiteCeiling {
    /// Jobs a second, over `jobs` jobs, in a store made in `folder`.
    static func measure(durability: Database.Synchronous, jobs: Int = 200_000, folder: String) throws -> Double {
        let path = "\(folder)/ceiling.db"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let database = try Database(path: path, options: .init(synchronous: durability))
        try database.execute(
            """
            CREATE TABLE jobs (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, job TEXT NOT NULL, spec BLOB NOT NULL,
                               state INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL, output TEXT NOT NULL)
            """)
        let insert = try database.prepare("INSERT INTO jobs (id, run, job, spec, state, started, finished, output) VALUES (?, ?, ?, ?, 3, ?, 0, '')")
        let update = try database.prepare("UPDATE jobs SET state = 6, finished = ?, output = ? WHERE id = ?")
        let spec = [UInt8](repeating: 7, count: 200)
        let batch = 100
        let began = Date()
        var id: Int64 = 0
        // Each transaction inserts a batch and ends the batch before it: every job is written twice.
        for _ in 0..<(jobs / batch + 1) {
            try database.transaction {
                for _ in 0..<batch {
                    id += 1
                    insert.bind(1, id)
                    insert.bind(2, id / 1000)
                    insert.bind(3, "j\(id % 1000)")
                    insert.bind(4, spec)
                    insert.bind(5, id)
                    try insert.run()
                    if id > Int64(batch) {
                        update.bind(1, id)
                        update.bind(2, "host:/logs/\(id).log")
                        update.bind(3, id - Int64(batch))
                        try update.run()
                    }
                }
            }
        }
        database.close()
        return Double(jobs) / Date().timeIntervalSince(began)
    }
}
