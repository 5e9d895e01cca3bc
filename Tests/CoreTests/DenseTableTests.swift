@testable import Core
import Testing

/// The table a shard keeps its jobs and tasks in: a dictionary's behaviour, with the values side by side.
@Suite struct DenseTableTests {
    @Test func valuesAreFoundChangedAndRemovedByKeyWhateverWasRemovedBefore() {
        var table: DenseTable<Int, String> = [:]
        for key in 0..<100 { table[key] = "v\(key)" }
        // Removing from the middle moves the last value into the hole: every other key must still find its own.
        for key in stride(from: 0, to: 100, by: 3) { #expect(table.removeValue(forKey: key) == "v\(key)") }
        #expect(table.removeValue(forKey: 0) == nil)
        #expect(!table.contains(0) && table.contains(1))
        #expect(table.count == 66)
        for key in 0..<100 { #expect(table[key] == (key % 3 == 0 ? nil : "v\(key)")) }
        #expect(Set(table.values) == Set((0..<100).filter { $0 % 3 != 0 }.map { "v\($0)" }))
        #expect(Set(table.keys) == Set((0..<100).filter { $0 % 3 != 0 }))

        table[1]? += "!"
        table.modify(2) { $0 = "two" }
        #expect(table.modifyIfPresent(3) { $0 = "three" } == nil)
        #expect(table[1] == "v1!" && table[2] == "two" && table[3] == nil)
        // Setting nil through a change in place removes the entry, as in a dictionary.
        table[4] = nil
        table[5]?.removeAll()
        #expect(table[4] == nil && table[5] == "")
        #expect(table.count == 65)
        table.removeAll()
        #expect(table.isEmpty && table[1] == nil)
    }

    @Test func tablesWithTheSameEntriesAreEqualWhateverTheirOrder() {
        var first: DenseTable<Int, Int> = [1: 10, 2: 20, 3: 30]
        let second: DenseTable<Int, Int> = [3: 30, 1: 10, 2: 20]
        #expect(first == second)
        first[2] = 21
        #expect(first != second)
        first.removeValue(forKey: 2)
        #expect(first != second && first.count == 2)
    }

    /// The places' own hash table (open addressing, entries moved back on removal) checked against a
    /// dictionary through thousands of random changes: keys in sequence as a shard gives them, keys that
    /// share their home slots, negative and extreme ones, and growth from empty.
    @Test func randomChangesLeaveTheSameEntriesAsADictionary() {
        var random = SplitMix64(seed: 21)
        for keys in [Array(0..<Int64(64)), (0..<Int64(64)).map { $0 << 40 }, [Int64.min, -1, 0, 1, Int64.max] + (1...59).map { -$0 * 977 }] {
            var table: DenseTable<Int64, Int> = [:]
            var model: [Int64: Int] = [:]
            for step in 0..<20_000 {
                let key = keys[Int(random.next() % UInt64(keys.count))]
                switch random.next() % 5 {
                case 0: #expect(table.removeValue(forKey: key) == model.removeValue(forKey: key))
                case 1: table[key] = nil; model[key] = nil
                case 2: table.updateValue(step, forKey: key); model[key] = step
                default: table[key] = step; model[key] = step
                }
                #expect(table.count == model.count)
            }
            for key in keys { #expect(table[key] == model[key] && table.contains(key) == (model[key] != nil)) }
            #expect(Set(table.keys) == Set(model.keys))
        }
        // Growth past many capacities, then every other key removed: the rest still found.
        var table: DenseTable<UInt64, UInt64> = [:]
        table.reserveCapacity(10)
        for key in UInt64(1)...100_000 { table[key] = key * 2 }
        for key in stride(from: UInt64(1), through: 100_000, by: 2) { table.removeValue(forKey: key) }
        #expect(table.count == 50_000)
        #expect((UInt64(1)...100_000).allSatisfy { table[$0] == ($0 % 2 == 0 ? $0 * 2 : nil) })
    }

    /// Keys chosen to share one home slot of the smallest table (16 slots), the last one, so that their
    /// run wraps round to the first slots: each removal moves the rest of the run back, and every key
    /// must still find its own value, paired as it was.
    @Test func keysThatShareAHomeSlotAreFoundThroughEveryRemoval() {
        // The slot the places' hash gives a key in a table of 16: its block of eight's home (the top four
        // bits of the product), on by the key's place in its block.
        func home(_ key: Int64) -> UInt64 { ((UInt64(bitPattern: key) >> 3 &* 0x9E37_79B9_7F4A_7C15) >> 60 &+ UInt64(key & 7)) & 15 }
        let colliding = (Int64(0)..<1_000_000).lazy.filter { home($0) == 15 }.prefix(12)
        let keys = Array(colliding)
        #expect(keys.count == 12)
        var table: DenseTable<Int64, Int64> = [:]
        for key in keys { table[key] = key * 10 }
        var left = Set(keys)
        for key in [keys[5], keys[0], keys[11], keys[1], keys[6]] {
            #expect(table.removeValue(forKey: key) == key * 10)
            left.remove(key)
            #expect(left.allSatisfy { table[$0] == $0 * 10 } && table.count == left.count)
            #expect(zip(table.keys, table.values).allSatisfy { $0.1 == $0.0 * 10 })
        }
        for key in keys where !left.contains(key) { #expect(table[key] == nil) }
    }
}

/// The chunks the values sit in: growth that never moves a value written, memory given back as the table
/// shrinks, and a table's copy that is its own.
@Suite struct DenseTableStorageTests {
    /// Larger values than integers, as a shard's jobs are: a chunk holds fewer of them.
    struct Large: Equatable, Sendable {
        var name: String
        var padding: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0, 0, 0)
        static func == (lhs: Large, rhs: Large) -> Bool { lhs.name == rhs.name }
    }

    @Test func aTableGrowsPastManyChunksAndGivesThemBackAsItShrinks() {
        var table: DenseTable<Int64, Large> = [:]
        #expect(table.capacity == 0)
        table[1] = Large(name: "one")
        let small = table.capacity
        #expect(small > 0 && small < 100, "a table of one value takes the room of a few")
        let chunk = ValueChunks<Large>.chunkSize
        #expect(chunk < 20_000 / 2, "the values span several chunks")
        for key in Int64(2)...20_000 { table[key] = Large(name: "v\(key)") }
        #expect(table.count == 20_000 && table.capacity >= 20_000)
        #expect(table.capacity < 20_000 + chunk, "at most the chunk being filled is partly empty")
        #expect((Int64(2)...20_000).allSatisfy { table[$0]?.name == "v\($0)" })
        // Removed in an order that moves values from the last chunks into the holes of the first ones.
        for key in stride(from: Int64(1), through: 20_000, by: 2) { table.removeValue(forKey: key) }
        for key in stride(from: Int64(20_000), through: 400, by: -2) { table.removeValue(forKey: key) }
        #expect(table.count == 199)
        #expect(table.capacity <= 2 * chunk, "the emptied chunks are freed, but for one spare")
        #expect((Int64(1)...20_000).allSatisfy { table[$0]?.name == ($0 % 2 == 0 && $0 < 400 ? "v\($0)" : nil) })
        for key in Int64(30_000)..<40_000 { table[key] = Large(name: "again \(key)") }
        #expect(table.count == 10_199 && (Int64(30_000)..<40_000).allSatisfy { table[$0]?.name == "again \($0)" })
    }

    @Test func aCopyOfATableIsChangedWithoutChangingTheOriginal() {
        var original: DenseTable<Int64, Large> = [:]
        for key in Int64(0)..<500 { original[key] = Large(name: "v\(key)") }
        let values = original.values
        var copy = original
        copy[7]?.name = "seven"
        copy.removeValue(forKey: 8)
        copy.updateValue(Large(name: "new"), forKey: 1_000)
        copy.modify(9) { $0.name = "nine" }
        #expect(original.count == 500 && original[7]?.name == "v7" && original[8]?.name == "v8" && original[9]?.name == "v9")
        #expect(original[1_000] == nil)
        #expect(copy.count == 500 && copy[7]?.name == "seven" && copy[8] == nil && copy[9]?.name == "nine" && copy[1_000]?.name == "new")
        // The values taken before the changes are those of the original.
        original.removeAll()
        #expect(values.count == 500 && Set(values.map(\.name)) == Set((0..<500).map { "v\($0)" }))
        #expect(original.isEmpty && copy.count == 500)
    }

    @Test func reservingRoomKeepsEveryValueFound() {
        var table: DenseTable<UInt64, Int> = [:]
        table[1] = 1
        table.reserveCapacity(50_000)
        #expect(table.capacity >= 50_000)
        for key in UInt64(2)...50_000 { table[key] = Int(key) }
        #expect(table.count == 50_000 && (UInt64(1)...50_000).allSatisfy { table[$0] == Int($0) })
    }
}
