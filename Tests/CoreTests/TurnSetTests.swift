@testable import Core
import Testing

/// The IDs a turn marks, each once.
@Suite struct TurnSetTests {
    @Test func membersAreKeptOnceInTheOrderFirstInserted() {
        var set = TurnSet<Int64>()
        #expect(set.insert(7) && set.insert(3) && !set.insert(7) && set.insert(-2))
        #expect(Array(set) == [7, 3, -2] && set.count == 3)
        #expect(set.contains(3) && !set.contains(4))
    }

    /// A removal moves the last member into its place; what stays is found, and what went is not.
    @Test func removalKeepsEveryOtherMemberFindable() {
        var set = TurnSet<UInt64>()
        for id in UInt64(1)...1000 { set.insert(id) }
        #expect(set.remove(500) && !set.remove(500) && !set.remove(2000))
        #expect(set.count == 999 && set[499] == 1000 && !set.contains(500))
        for id in stride(from: UInt64(1), through: 1000, by: 3) { set.remove(id) }
        let left = (UInt64(1)...1000).filter { $0 != 500 && ($0 - 1) % 3 != 0 }
        #expect(set.count == left.count && left.allSatisfy(set.contains) && Set(set) == Set(left))
        set.remove(set[set.count - 1])
        #expect(set.count == left.count - 1)
    }

    /// A turn of a whole run, then a small one, then one within the room kept: each starts empty.
    @Test func aTurnStartsEmptyAfterAnyOther() {
        var set = TurnSet<Int64>()
        for id in Int64(0)..<15_000 { set.insert(id) }
        set.clearForNextTurn()
        #expect(set.isEmpty && !set.contains(14_999))
        set.insert(14_999)
        #expect(Array(set) == [14_999])
        for id in Int64(0)..<100 { set.insert(id) }
        set.clearForNextTurn()
        #expect(set.isEmpty && !set.contains(50))
        set.insert(50)
        #expect(Array(set) == [50])
    }

    /// Made with room for none, one or many, it holds whatever it is given.
    @Test func aSetMadeWithRoomHoldsWhatItIsGiven() {
        for capacity in [0, 1, 300] {
            var set = TurnSet<Int64>(capacity: capacity)
            #expect(set.isEmpty && !set.contains(0) && set.index(of: 0) == nil)
            for id in Int64(0)..<500 { set.insert(id) }
            #expect(set.count == 500 && (Int64(0)..<500).allSatisfy(set.contains) && set.index(of: 499) == 499)
        }
    }

    /// Emptied with its lookup table kept and its list of members let go (more members than the room kept,
    /// in a table no larger than that room's), it starts again empty.
    @Test func clearingKeepsTheTableButNotALongList() {
        var set = TurnSet<UInt64>()
        for id in UInt64(1)...120 { set.insert(id) }
        set.clearForNextTurn(keptCapacity: 100)
        #expect(set.isEmpty && !set.contains(1) && !set.contains(120))
        set.insert(7)
        set.insert(120)
        #expect(Array(set) == [7, 120] && set.index(of: 120) == 1 && !set.contains(1))
    }

    /// A turn keeps the set it was given when the shard starts the next one.
    @Test func aCopyIsUntouchedByTheOriginal() {
        var set: TurnSet<UInt64> = [1, 2, 3]
        let taken = set
        set.clearForNextTurn()
        set.insert(4)
        #expect(Array(taken) == [1, 2, 3] && Array(set) == [4])
        #expect(taken == [3, 2, 1] && taken != [1, 2] && taken != [1, 2, 4])
    }
}
