/// Job IDs found by a hash of something each job holds (a shard's jobs by their identity): an
/// open-addressing table of the IDs and 32 bits of each one's hash, with linear probing.
///
/// A `Dictionary` from identity to ID keeps each identity a second time, beside its job: 40 octets a
/// bucket, at most three quarters full, so a shard holding a million jobs spent 84 octets a job on it.
/// Here a slot is 12 octets, and the caller tells which of the IDs whose hash matches is the one it
/// looks for (`matching`), from the job it holds. The hash is the caller's, seeded (`Hasher`): a
/// client chooses job names, and must not be able to choose collisions. Removal moves the entries after
/// the removed one back (backward-shift deletion), so no tombstone slows later lookups; each entry's
/// home is in the bits kept of its hash, so neither removal nor growth hashes anything again.
struct HashedIDs: Sendable {
    /// 0 where a slot is empty: IDs are positive.
    private var ids: ContiguousArray<Int64> = []
    /// The low 32 bits of each ID's hash; their low bits are its home slot.
    private var hashes: ContiguousArray<UInt32> = []
    private(set) var count = 0

    init() {}

    /// The ID with this hash that `matching` accepts, if any.
    func find(hash: Int, matching: (Int64) -> Bool) -> Int64? {
        guard count > 0 else { return nil }
        let bits = UInt32(truncatingIfNeeded: hash)
        let mask = ids.count - 1
        var slot = Int(bits) & mask
        while ids[slot] != 0 {
            if hashes[slot] == bits && matching(ids[slot]) { return ids[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Adds `id` under `hash`. The caller adds an ID once, and never two that `matching` would not tell apart.
    mutating func insert(_ id: Int64, hash: Int) {
        precondition(id > 0, "an ID in a hashed table is positive")
        if count + 1 > ids.count / 4 * 3 { rehash(to: Self.capacity(for: count + 1)) }
        let bits = UInt32(truncatingIfNeeded: hash)
        let mask = ids.count - 1
        var slot = Int(bits) & mask
        while ids[slot] != 0 { slot = (slot + 1) & mask }
        ids[slot] = id
        hashes[slot] = bits
        count += 1
    }

    /// Removes `id`, added under `hash`; nothing if it is not there.
    mutating func remove(_ id: Int64, hash: Int) {
        guard count > 0 else { return }
        let mask = ids.count - 1
        var hole = Int(UInt32(truncatingIfNeeded: hash)) & mask
        while true {
            if ids[hole] == 0 { return }
            if ids[hole] == id { break }
            hole = (hole + 1) & mask
        }
        // Each later entry of the run moves into the hole unless that would put it before its home.
        var slot = hole
        while true {
            slot = (slot + 1) & mask
            if ids[slot] == 0 { break }
            let home = Int(hashes[slot]) & mask
            if (slot &- home) & mask >= (slot &- hole) & mask {
                ids[hole] = ids[slot]
                hashes[hole] = hashes[slot]
                hole = slot
            }
        }
        ids[hole] = 0
        count -= 1
    }

    mutating func reserveCapacity(_ minimum: Int) {
        let capacity = Self.capacity(for: minimum)
        if capacity > ids.count { rehash(to: capacity) }
    }

    /// The smallest power of two that holds `count` IDs at most three quarters full (16 at least; at most
    /// 2^32, the homes the bits kept can name).
    private static func capacity(for count: Int) -> Int {
        var capacity = 16
        while capacity / 4 * 3 < count { capacity *= 2 }
        precondition(capacity <= 1 << 32, "more IDs than a hashed table's 32 bits of home can place")
        return capacity
    }

    private mutating func rehash(to capacity: Int) {
        let oldIDs = ids
        let oldHashes = hashes
        ids = ContiguousArray(repeating: 0, count: capacity)
        hashes = ContiguousArray(repeating: 0, count: capacity)
        count = 0
        let mask = capacity - 1
        for index in oldIDs.indices where oldIDs[index] != 0 {
            var slot = Int(oldHashes[index]) & mask
            while ids[slot] != 0 { slot = (slot + 1) & mask }
            ids[slot] = oldIDs[index]
            hashes[slot] = oldHashes[index]
            count += 1
        }
    }
}
