/// A key of ``IntegerPlaces``: one the service gives out itself (IDs in sequence), never chosen by a
/// client, so that 64 bits of it spread by a multiplication are as good a hash as a seeded one.
public protocol PlaceKey: Equatable, Sendable {
    /// The key in 64 bits, from which the table finds its slot (``IntegerPlaces``).
    var placeHash: UInt64 { get }
    /// Any value, to fill empty slots with.
    static var placeholder: Self { get }
}

extension Int64: PlaceKey {
    public var placeHash: UInt64 { UInt64(bitPattern: self) }
    public static var placeholder: Int64 { 0 }
}

extension Int: PlaceKey {
    public var placeHash: UInt64 { UInt64(bitPattern: Int64(self)) }
    public static var placeholder: Int { 0 }
}

extension UInt64: PlaceKey {
    public var placeHash: UInt64 { self }
    public static var placeholder: UInt64 { 0 }
}

/// Where each key's value sits in a ``DenseTable``: an open-addressing hash table of the service's own
/// keys, with linear probing.
///
/// A shard looks its jobs and tasks up by ID dozens of times a job. A `Dictionary` hashes each key with
/// the standard library's seeded SipHash, a fifth of the lookup; the IDs here are the service's own,
/// given out in sequence and never chosen by a client, so a multiplication spreads them as well.
///
/// A key's home slot: the keys of one aligned block of eight (all but the low three bits alike) share
/// a home block of eight neighbouring slots, in their order, and blocks are spread over the table by
/// Fibonacci hashing (the top bits of the block's number times 2^64 over the golden ratio). A shard
/// gives IDs out in sequence and looks them up mostly in sequence (a run's jobs are taken, leased and
/// ended in about the order they came), so that neighbouring lookups share cache lines; spread one by
/// one, each missed the caches. Blocks, not the whole sequence, sit side by side: IDs placed all in a
/// row made the table one long run of slots, which every removal walked.
///
/// Removal moves the entries after the removed one back (backward-shift deletion), so no tombstone is
/// ever left to slow later lookups. At most three quarters full.
struct IntegerPlaces<Key: PlaceKey>: Sendable {
    private var keys: ContiguousArray<Key> = []
    /// -1 where a slot is empty.
    private var places: ContiguousArray<Int32> = []
    /// 64 less log2 of the capacity: the top bits of the product pick a block's home.
    private var shift: UInt64 = 64
    private(set) var count = 0

    init() {}

    subscript(key: Key) -> Int32? {
        get {
            guard count > 0 else { return nil }
            let mask = places.count - 1
            var slot = home(of: key)
            while true {
                let place = places[slot]
                if place < 0 { return nil }
                if keys[slot] == key { return place }
                slot = (slot + 1) & mask
            }
        }
        set {
            if let newValue { set(newValue, for: key) } else { remove(key) }
        }
    }

    mutating func reserveCapacity(_ minimum: Int) {
        let capacity = Self.capacity(for: minimum)
        if capacity > places.count { rehash(to: capacity) }
    }

    mutating func removeAll() { self = Self() }

    /// Empties the table, keeping its slots if it is no larger than a table for `keptCapacity` keys: a
    /// table a service fills anew each turn then does not grow again through every size.
    mutating func removeAll(keepingCapacity keptCapacity: Int) {
        guard count > 0 else { return }
        guard places.count <= Self.capacity(for: keptCapacity) else { return removeAll() }
        for slot in places.indices { places[slot] = -1 }
        count = 0
    }

    private func home(of key: Key) -> Int {
        let hash = key.placeHash
        let block = Int(truncatingIfNeeded: ((hash >> 3) &* 0x9E37_79B9_7F4A_7C15) >> shift)
        return (block &+ Int(truncatingIfNeeded: hash & 7)) & (places.count - 1)
    }

    /// The smallest power of two that holds `count` keys at most three quarters full (16 at least).
    private static func capacity(for count: Int) -> Int {
        var capacity = 16
        while capacity / 4 * 3 < count { capacity *= 2 }
        return capacity
    }

    private mutating func set(_ place: Int32, for key: Key) {
        precondition(place >= 0, "a place is an index into the values")
        if (count + 1) > places.count / 4 * 3 { rehash(to: Self.capacity(for: count + 1)) }
        let mask = places.count - 1
        var slot = home(of: key)
        while places[slot] >= 0 {
            if keys[slot] == key {
                places[slot] = place
                return
            }
            slot = (slot + 1) & mask
        }
        keys[slot] = key
        places[slot] = place
        count += 1
    }

    private mutating func remove(_ key: Key) {
        guard count > 0 else { return }
        let mask = places.count - 1
        var hole = home(of: key)
        while true {
            if places[hole] < 0 { return }
            if keys[hole] == key { break }
            hole = (hole + 1) & mask
        }
        // Each later entry of the run moves into the hole unless that would put it before its home.
        var slot = hole
        while true {
            slot = (slot + 1) & mask
            if places[slot] < 0 { break }
            let home = home(of: keys[slot])
            if (slot &- home) & mask >= (slot &- hole) & mask {
                keys[hole] = keys[slot]
                places[hole] = places[slot]
                hole = slot
            }
        }
        places[hole] = -1
        count -= 1
    }

    private mutating func rehash(to capacity: Int) {
        let oldKeys = keys
        let oldPlaces = places
        keys = ContiguousArray(repeating: .placeholder, count: capacity)
        places = ContiguousArray(repeating: -1, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        count = 0
        let mask = capacity - 1
        for index in oldPlaces.indices where oldPlaces[index] >= 0 {
            var slot = home(of: oldKeys[index])
            while places[slot] >= 0 { slot = (slot + 1) & mask }
            keys[slot] = oldKeys[index]
            places[slot] = oldPlaces[index]
            count += 1
        }
    }
}
