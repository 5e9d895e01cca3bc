@testable import Core
import Testing

/// The table a shard finds its jobs by identity in: IDs by hash, told apart by what each job holds.
@Suite struct HashedIDsTests {
    /// A model of what the caller holds: each ID's name, hashed as the shard hashes identities, or with
    /// every hash forced into a few homes to make runs of collisions.
    struct Held {
        var names: [Int64: String] = [:]
        var collide = false
        func hash(_ name: String) -> Int { collide ? name.count % 3 : name.hashValue }
        func find(_ name: String, in table: HashedIDs) -> Int64? { table.find(hash: hash(name)) { names[$0] == name } }
    }

    @Test(arguments: [false, true])
    func idsAreFoundByWhatTheirJobsHoldThroughRemovalsAndGrowth(collide: Bool) {
        var table = HashedIDs()
        var held = Held(collide: collide)
        for id in Int64(1)...300 {
            held.names[id] = "job-\(id)"
            table.insert(id, hash: held.hash("job-\(id)"))
        }
        #expect(table.count == 300)
        // Removals from the middle of runs: every other ID must still be found, and the removed ones not.
        for id in stride(from: Int64(1), through: 300, by: 4) {
            table.remove(id, hash: held.hash(held.names[id]!))
        }
        table.remove(1, hash: held.hash("job-1"))  // Already gone: nothing.
        table.remove(999, hash: held.hash("job-999"))  // Never there: nothing.
        #expect(table.count == 225)
        for id in Int64(1)...300 {
            #expect(held.find("job-\(id)", in: table) == (id % 4 == 1 ? nil : id))
        }
        #expect(held.find("job-301", in: table) == nil)
        // Growth keeps every entry where a lookup finds it.
        table.reserveCapacity(5_000)
        for id in Int64(301)...1_000 {
            held.names[id] = "job-\(id)"
            table.insert(id, hash: held.hash("job-\(id)"))
        }
        for id in Int64(1)...1_000 {
            #expect(held.find("job-\(id)", in: table) == (id <= 300 && id % 4 == 1 ? nil : id))
        }
    }

    @Test func aRunThatWrapsRoundTheEndStaysFoundAfterARemovalBeforeIt() {
        var table = HashedIDs()
        // The smallest table has 16 slots: these three share the last home, and two wrap to the start.
        for id in Int64(1)...3 { table.insert(id, hash: 15) }
        table.insert(4, hash: 0)  // Its home is taken by a wrapped entry: it goes after.
        table.remove(1, hash: 15)
        for id in Int64(2)...4 {
            #expect(table.find(hash: id == 4 ? 0 : 15) { $0 == id } == id)
        }
        table.remove(2, hash: 15)
        table.remove(3, hash: 15)
        #expect(table.find(hash: 0) { $0 == 4 } == 4)
        #expect(table.count == 1)
    }
}
