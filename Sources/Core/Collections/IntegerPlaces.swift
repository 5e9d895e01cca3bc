/// A key of ``IntegerPlaces``: one the service gives out itself (IDs in sequence), never chosen by a
/// client, so that 64 bits of it spread by a multiplication are as good a hash as a seeded one.
public protocol PlaceKey: Equatable, Sendable {
    /// The key in 64 bits, which the table multiplies to find its slot.
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
/// given out in sequence and never chosen by a client, so a multiplication spreads them as well
/// (Fibonacci hashing: the top bits of the key times 2^64 over the golden ratio). Removal moves the
/// entries after the removed one back (backward-shift deletion), so no tombstone is ever left to slow
/// later lookups. At most three quarters full.
///
/// A key and its place share a slot, so a lookup in a table larger than the caches misses once, not
/// once for the key and again for the place.
struct IntegerPlaces<Key: PlaceKey>: Sendable {
    private struct Slot: Sendable {
        var key: Key
        /// -1 where the slot is empty.
        var place: Int32
    }

    private var slots: ContiguousArray<Slot> = []
    /// 64 less log2 of the capacity: the top bits of the product pick the slot.
    private var shift: UInt64 = 64
    private(set) var count = 0

    init() {}

    subscript(key: Key) -> Int32? {
        get {
            guard count > 0 else { return nil }
            return slots.withUnsafeBufferPointer { slots in
                let mask = slots.count - 1
                var index = home(of: key)
                while true {
                    let slot = slots[index]
                    if slot.place < 0 { return nil }
                    if slot.key == key { return slot.place }
                    index = (index + 1) & mask
                }
            }
        }
        set {
            if let newValue { set(newValue, for: key) } else { remove(key) }
        }
    }

    mutating func reserveCapacity(_ minimum: Int) {
        let capacity = Self.capacity(for: minimum)
        if capacity > slots.count { rehash(to: capacity) }
    }

    mutating func removeAll() { self = Self() }

    /// Empties the table, keeping its slots if it is no larger than a table for `keptCapacity` keys: a
    /// table a service fills anew each turn then does not grow again through every size.
    mutating func removeAll(keepingCapacity keptCapacity: Int) {
        guard count > 0 else { return }
        guard slots.count <= Self.capacity(for: keptCapacity) else { return removeAll() }
        for index in slots.indices { slots[index].place = -1 }
        count = 0
    }

    /// Keys of one aligned block of eight share a home block of eight slots, in order: keys given out in
    /// sequence are mostly looked up in sequence, and then they share cache lines.
    private func home(of key: Key) -> Int {
        let hash = key.placeHash
        let block = Int(truncatingIfNeeded: ((hash >> 3) &* 0x9E37_79B9_7F4A_7C15) >> shift)
        return (block &+ Int(truncatingIfNeeded: hash & 7)) & (slots.count - 1)
    }

    /// The smallest power of two that holds `count` keys at most three quarters full (16 at least).
    private static func capacity(for count: Int) -> Int {
        var capacity = 16
        while capacity / 4 * 3 < count { capacity *= 2 }
        return capacity
    }

    private mutating func set(_ place: Int32, for key: Key) {
        precondition(place >= 0, "a place is an index into the values")
        if (count + 1) > slots.count / 4 * 3 { rehash(to: Self.capacity(for: count + 1)) }
        let mask = slots.count - 1
        var index = home(of: key)
        while slots[index].place >= 0 {
            if slots[index].key == key {
                slots[index].place = place
                return
            }
            index = (index + 1) & mask
        }
        slots[index] = Slot(key: key, place: place)
        count += 1
    }

    private mutating func remove(_ key: Key) {
        guard count > 0 else { return }
        let mask = slots.count - 1
        var hole = home(of: key)
        while true {
            if slots[hole].place < 0 { return }
            if slots[hole].key == key { break }
            hole = (hole + 1) & mask
        }
        // Each later entry of the run moves into the hole unless that would put it before its home.
        var index = hole
        while true {
            index = (index + 1) & mask
            if slots[index].place < 0 { break }
            let home = home(of: slots[index].key)
            if (index &- home) & mask >= (index &- hole) & mask {
                slots[hole] = slots[index]
                hole = index
            }
        }
        slots[hole].place = -1
        count -= 1
    }

    private mutating func rehash(to capacity: Int) {
        let old = slots
        slots = ContiguousArray(repeating: Slot(key: .placeholder, place: -1), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        count = 0
        let mask = capacity - 1
        for slot in old where slot.place >= 0 {
            var index = home(of: slot.key)
            while slots[index].place >= 0 { index = (index + 1) & mask }
            slots[index] = slot
            count += 1
        }
    }
}
