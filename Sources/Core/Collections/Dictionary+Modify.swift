extension Dictionary {
    /// Changes the value for `key`, which must be present, in place.
    ///
    /// `dictionary[key]!.change()` goes through the optional: it copies the value out and writes it
    /// back, retaining and releasing every reference the value holds. For the cores' large structs
    /// (a run, a job, a task) that cost more than the change itself, on every job.
    @inlinable
    mutating func modify<Result>(_ key: Key, _ change: (inout Value) throws -> Result) rethrows -> Result {
        guard let index = index(forKey: key) else { preconditionFailure("no value for \(key)") }
        return try change(&values[index])
    }

    /// Changes the value for `key` in place, as ``modify(_:_:)`` does, if there is one: the change's
    /// result, or nil when there is no value for `key`.
    @inlinable
    mutating func modifyIfPresent<Result>(_ key: Key, _ change: (inout Value) throws -> Result) rethrows -> Result? {
        guard let index = index(forKey: key) else { return nil }
        return try change(&values[index])
    }
}
