/// Values by integer key, kept side by side in chunks (``ValueChunks``), with a hash table of their
/// places (``IntegerPlaces``).
///
/// A shard holds a job and a task, hundreds of octets each, for every job it has queued. In a
/// `Dictionary` every bucket is the size of a value and a table is at most three quarters full, so a
/// million jobs take two million buckets of a job each, half of them empty, and each time the table
/// grows every value moves. Here the values sit side by side, and only the places (a key and an index)
/// are hashed: about half the memory for large values. Growth moves places, not values, and a table
/// that shrinks frees the chunks it emptied.
///
/// Removing a value moves the last one into its place, so the order of ``values`` is not the order of
/// insertion.
public struct DenseTable<Key: FixedWidthInteger & PlaceKey, Value: Sendable>: Sendable {
    private var places = IntegerPlaces<Key>()
    private var keyAt: ContiguousArray<Key> = []
    /// Never nil at a place below `count`: optional only so that a value can be moved out and back in
    /// place (``subscript(_:)``'s modify) without copying it, and so that an absent key can be lent a nil.
    private var storage = ValueChunks<Value>()

    public init() {}

    public var count: Int { storage.count }

    /// The values the table has room for without allocating: what it grew to, less what it gave back as
    /// it shrank.
    public var capacity: Int { storage.capacity }

    /// Whether there is a value for `key`, without copying it out.
    public func contains(_ key: Key) -> Bool { places[key] != nil }
    public var isEmpty: Bool { storage.count == 0 }

    /// Every value, in no particular order.
    public var values: Values { Values(storage: storage) }

    /// Every key, in the order of ``values``.
    public var keys: ContiguousArray<Key> { keyAt }

    /// The value at `position` (in `0..<count`, the order of ``values`` and ``keys``), lent in place
    /// as ``subscript(_:)`` lends one: a pass over a table of a million values reads them in the order they
    /// lie, without hashing a key or copying a value out.
    public subscript(at position: Int) -> Value? {
        unsafeAddress {
            precondition(position >= 0 && position < storage.count, "a position in the table")
            return UnsafePointer(storage.address(of: position))
        }
    }

    public mutating func reserveCapacity(_ capacity: Int) {
        places.reserveCapacity(capacity)
        keyAt.reserveCapacity(capacity)
        makeUnique()
        storage.reserve(capacity)
    }

    public subscript(key: Key) -> Value? {
        // Lent in place, not copied out: `jobs[id]?.step` reads a field of a value hundreds of octets
        // long, a dozen of them counted references, without copying and releasing the rest. By its
        // address, not by a `_read` coroutine: the coroutine's frame, with room for such a value, did not
        // fit the caller's buffer and was allocated on the heap at every read (a third of a shard's
        // allocations). The address is good for the access: `self`, and so `storage`, is borrowed and
        // unchanged for as long as it lasts.
        unsafeAddress {
            guard let place = places[key] else { return UnsafePointer(storage.absent) }
            return UnsafePointer(storage.address(of: Int(place)))
        }
        _modify {
            makeUnique()
            if let place = places[key].map(Int.init) {
                // Moved out, changed, and moved back: no copy of the value, as a Dictionary's modify.
                var value: Value?
                swap(&value, &storage.address(of: place).pointee)
                defer {
                    if value != nil {
                        swap(&value, &storage.address(of: place).pointee)
                    } else {
                        remove(at: place)
                    }
                }
                yield &value
            } else {
                var value: Value?
                defer { if let added = value.take() { append(added, for: key) } }
                yield &value
            }
        }
    }

    /// Sets the value for `key`, adding it or replacing the one there. A function, not the subscript's
    /// setter: the subscript's `_modify` coroutine has a frame too large for its caller's buffer, and each
    /// use allocates it.
    public mutating func updateValue(_ value: consuming Value, forKey key: Key) {
        makeUnique()
        if let place = places[key] {
            storage.address(of: Int(place)).pointee = value
        } else {
            append(value, for: key)
        }
    }

    /// Changes the value for `key`, which must be present, in place.
    public mutating func modify<Result>(_ key: Key, _ change: (inout Value) throws -> Result) rethrows -> Result {
        guard let place = places[key] else { preconditionFailure("no value for \(key)") }
        makeUnique()
        return try change(&storage.address(of: Int(place)).pointee!)
    }

    /// Changes the value for `key` in place, if there is one: the change's result, or nil.
    public mutating func modifyIfPresent<Result>(_ key: Key, _ change: (inout Value) throws -> Result) rethrows -> Result? {
        guard let place = places[key] else { return nil }
        makeUnique()
        return try change(&storage.address(of: Int(place)).pointee!)
    }

    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? {
        guard let place = places[key].map(Int.init) else { return nil }
        makeUnique()
        var value: Value?
        swap(&value, &storage.address(of: place).pointee)
        remove(at: place)
        return value
    }

    public mutating func removeAll() {
        places.removeAll()
        keyAt = []
        storage = ValueChunks()
    }

    /// The storage copied before a change, if another table shares it.
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    private mutating func append(_ value: consuming Value, for key: Key) {
        precondition(storage.count < Int(Int32.max), "a dense table holds fewer than 2^31 values")
        places[key] = Int32(storage.count)
        keyAt.append(key)
        storage.append(value)
    }

    /// Forgets the entry at `place` (its value already moved out): the last entry takes its place.
    private mutating func remove(at place: Int) {
        places[keyAt[place]] = nil
        // The last entry is moved into the empty place, not swapped with it through the collection, which
        // copies both values, retaining and releasing every reference they hold. Moved by exchanging the
        // two optionals in place (the emptied place holds nil): an assignment from a constant copied the
        // value, then released it.
        var value = storage.removeLast()
        let key = keyAt.removeLast()
        if place != storage.count {
            swap(&value, &storage.address(of: place).pointee)
            keyAt[place] = key
            places[key] = Int32(place)
        }
    }

    /// The values of a table, in the order of its keys; they share the table's storage.
    public struct Values: RandomAccessCollection, Sendable {
        fileprivate let storage: ValueChunks<Value>
        public var startIndex: Int { 0 }
        public var endIndex: Int { storage.count }
        public subscript(position: Int) -> Value {
            precondition(position >= 0 && position < storage.count, "an index of a value")
            return storage.address(of: position).pointee!
        }
    }
}

extension DenseTable: Equatable where Value: Equatable {
    /// The same keys with equal values, whatever their order.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.count == rhs.count && lhs.keyAt.allSatisfy { key in lhs[key] == rhs[key] }
    }
}

extension DenseTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (Key, Value)...) {
        self.init()
        for (key, value) in elements { self[key] = value }
    }
}
