import Store

/// Turns a store's failures into a service's last words: which store, what SQLite said, and that
/// nothing of the failed turn was told to anyone.
enum ServiceStore {
    /// Opens a service's store, naming the path and the likely cause when it cannot.
    static func open<Store>(_ service: String, _ path: String, _ body: () throws -> Store) throws -> Store {
        do {
            return try body()
        } catch let error as SQLiteError {
            var message = "\(service) cannot open its store \(path): \(error.message)"
            if error.isReadOnly || error.code == 14 || error.code == 8 {
                message += " (is the folder there and writable?)"
            }
            throw ServiceError(message)
        }
    }

    /// Commits a turn; on failure the service must stop, since it acknowledged nothing of the turn and
    /// its memory is ahead of its store.
    static func commit<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            let cause = error.isFull ? "the disk is full" : error.isReadOnly ? "the store became read-only" : error.message
            throw ServiceError(
                "cannot commit to \(path): \(cause) (SQLite \(error.code): \(error.message)); stopping without acknowledging anything of this turn")
        }
    }
}
