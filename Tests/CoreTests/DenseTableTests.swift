import Core
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
}
