/// The values of a ``DenseTable``, side by side in chunks of a fixed size that never move once written.
///
/// One contiguous array of values moves every value each time it grows: a shard whose queue deepens to
/// hundreds of thousands of jobs, hundreds of octets each, copied them again and again, and faulted in
/// each new array's pages (a tenth of a loaded shard's time). And an array never gives back what it grew
/// to. Here a full chunk stays where it is and the next value starts a new one; a chunk left empty by
/// removals is freed, but for one kept spare, so that a table that shrinks gives its memory back.
///
/// The first chunk grows by doubling up to the full size, so a small table takes little room. A full
/// chunk is about 1 MiB, which the allocator maps apart from its heap: with chunks of 64 KiB, carved from
/// the heap among a restart's short-lived rows, a shard restored with a million jobs kept 30 MB more
/// (754 octets a pending job against 723 for one array; 716 with chunks of 1 MiB). Value semantics are
/// the table's: it copies this storage before changing it when the storage is shared.
final class ValueChunks<Value: Sendable>: @unchecked Sendable {
    /// The values of a chunk, as a power of two: as many as fit in about 1 MiB, 16 at least.
    static var shift: Int {
        let perChunk = max(16, (1 << 20) / max(1, MemoryLayout<Value?>.stride))
        return Int.bitWidth - 1 - perChunk.leadingZeroBitCount
    }
    static var chunkSize: Int { 1 << shift }

    private(set) var count = 0
    /// Where each chunk is; `chunkCount` of them allocated, room for `tableCapacity`.
    private var table: UnsafeMutablePointer<UnsafeMutablePointer<Value?>>
    private var tableCapacity: Int
    private(set) var chunkCount = 0
    /// The room of the first chunk, which grows up to `chunkSize`; every other chunk is full size.
    private var firstCapacity = 0
    /// The values this storage has room for without allocating.
    var capacity: Int { chunkCount == 0 ? 0 : firstCapacity + (chunkCount - 1) * Self.chunkSize }
    /// The nil that a read of a key not in the table is lent.
    let absent: UnsafeMutablePointer<Value?>

    init() {
        tableCapacity = 4
        table = .allocate(capacity: tableCapacity)
        absent = .allocate(capacity: 1)
        absent.initialize(to: nil)
    }

    deinit {
        for chunk in 0..<chunkCount {
            table[chunk].deinitialize(count: values(in: chunk))
            table[chunk].deallocate()
        }
        table.deallocate()
        absent.deinitialize(count: 1)
        absent.deallocate()
    }

    /// The address of the value at `place`, below `count`. Good while this storage is neither changed
    /// nor freed.
    @inline(__always)
    func address(of place: Int) -> UnsafeMutablePointer<Value?> {
        table[place &>> Self.shift] + (place & (Self.chunkSize - 1))
    }

    /// The values of this storage in a new one, in the same places.
    func copy() -> ValueChunks {
        let copy = ValueChunks()
        copy.reserve(count)
        for place in 0..<count { copy.append(address(of: place).pointee) }
        return copy
    }

    func append(_ value: consuming Value?) {
        let chunk = count &>> Self.shift
        if chunk == chunkCount {
            addChunk()
        } else if chunk == 0 && count == firstCapacity {
            growFirst(to: firstCapacity * 2)
        }
        address(of: count).initialize(to: value)
        count += 1
    }

    /// Moves the last value out and frees a chunk left empty, but for one spare.
    func removeLast() -> Value? {
        precondition(count > 0, "a value to remove")
        count -= 1
        let value = address(of: count).move()
        // Chunks past the last that holds a value, and past one spare beyond it, are freed.
        let last = count == 0 ? 0 : (count - 1) &>> Self.shift
        while chunkCount > 1 && chunkCount - 1 > last + 1 {
            chunkCount -= 1
            table[chunkCount].deallocate()
        }
        return value
    }

    /// Room for `capacity` values without allocating as they are appended.
    func reserve(_ capacity: Int) {
        guard capacity > 0 else { return }
        if chunkCount == 0 { addChunk(firstSize: min(capacity, Self.chunkSize)) }
        if firstCapacity < min(capacity, Self.chunkSize) { growFirst(to: min(capacity, Self.chunkSize)) }
        while chunkCount * Self.chunkSize < capacity { addChunk() }
    }

    /// The values in `chunk`.
    private func values(in chunk: Int) -> Int {
        min(Self.chunkSize, max(0, count - chunk * Self.chunkSize))
    }

    private func addChunk(firstSize: Int = 16) {
        if chunkCount == tableCapacity {
            let grown = UnsafeMutablePointer<UnsafeMutablePointer<Value?>>.allocate(capacity: tableCapacity * 2)
            grown.moveInitialize(from: table, count: chunkCount)
            table.deallocate()
            table = grown
            tableCapacity *= 2
        }
        if chunkCount == 0 {
            firstCapacity = min(max(firstSize, 16), Self.chunkSize)
            table[0] = .allocate(capacity: firstCapacity)
        } else {
            if firstCapacity < Self.chunkSize { growFirst(to: Self.chunkSize) }
            table[chunkCount] = .allocate(capacity: Self.chunkSize)
        }
        chunkCount += 1
    }

    /// The first chunk moved to a larger allocation: only it ever moves, and never past `chunkSize` values.
    private func growFirst(to capacity: Int) {
        let capacity = min(capacity, Self.chunkSize)
        guard capacity > firstCapacity else { return }
        let grown = UnsafeMutablePointer<Value?>.allocate(capacity: capacity)
        grown.moveInitialize(from: table[0], count: values(in: 0))
        table[0].deallocate()
        table[0] = grown
        firstCapacity = capacity
    }
}
