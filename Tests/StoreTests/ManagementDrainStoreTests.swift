import Core
import Store
import Testing
import Wire

/// Drained shards in management's store, a real SQLite file: kept across restarts, and forgotten once
/// the configuration no longer names the shard.
@Suite struct ManagementDrainStoreTests {
    typealias Management = ManagementRecallTests.Management

    func apply(_ products: [String], to management: inout Management) throws -> Status {
        let files = products.map { product in
            JSON.object([("path", .string("\(product).json")), ("text", .string(ManagementRecallTests.flow.replacingOccurrences(of: "\"p\"", with: "\"\(product)\"")))])
        }
        return try management.call("apply", .object([("files", .array(files))])).0
    }

    /// Found by an operator: management kept no drained state, so that right after `baton drain 3` a new
    /// product was bound to shard 3. The drain is committed, and a management started again over the
    /// same store still binds no new product there, and refuses a move onto it.
    @Test func aDrainedShardStaysDrainedAcrossARestart() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/management.db"
            do {
                var management = try Management(path: path, small: false, shards: [1, 2, 3])
                let (status, body) = try management.call("drain", .object([("shard", .number(3)), ("actor", .string("alice"))]))
                #expect(status == .ok, "\(body.rendered())")
            }
            var restarted = try Management(path: path, small: false, shards: [1, 2, 3])
            #expect(restarted.core.drained == [3])
            #expect(try apply(["a", "b", "c", "d"], to: &restarted) == .ok)
            #expect(restarted.core.products.values.map(\.shard).sorted() == [1, 1, 2, 2])
            let (move, refusal) = try restarted.call("move", .object([("product", .string("a")), ("to", .number(3)), ("actor", .string("alice"))]))
            #expect(move == .conflict && refusal["error"]?.string?.contains("`baton undrain 3`") == true)
            // The drain is in the audit log, under its actor.
            let entries = try restarted.store.history(run: 0, product: "", actor: "alice", limit: 10, before: nil)
            #expect(entries.map { "\($0.method) \($0.options)" } == ["drain shard 3"])

            // Opened again: a restart keeps that too.
            #expect(try restarted.call("undrain", .object([("shard", .number(3)), ("actor", .string("alice"))])).0 == .ok)
            let reopened = try Management(path: path, small: false, shards: [1, 2, 3])
            #expect(reopened.core.drained.isEmpty)
        }
    }

    /// A drained shard, emptied and then taken out of the configuration, is forgotten: added again under
    /// its ID, it is a new shard, open to products.
    @Test func aDrainedShardTakenOutOfTheConfigurationIsForgotten() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/management.db"
            do {
                var management = try Management(path: path, small: false, shards: [1, 2])
                #expect(try management.call("drain", .object([("shard", .number(2)), ("actor", .string("alice"))])).0 == .ok)
            }
            do {
                var without = try Management(path: path, small: false, shards: [1])
                #expect(without.core.drained.isEmpty)
                #expect(try apply(["a"], to: &without) == .ok)
            }
            let again = try Management(path: path, small: false, shards: [1, 2])
            #expect(again.core.drained.isEmpty)
        }
    }

    /// Found by an operator: shard 4 was taken out of the cluster file while a product was still bound
    /// to it, and management started all the same; every run of the product failed at once. What the
    /// store holds, read as `baton up` reads it (read-only, while management may run on it), refuses
    /// the file, naming the product and how to drain the shard; once the product has moved, it does not.
    @Test func aConfigurationDroppingAShardProductsAreBoundToIsRefusedUntilItIsDrained() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/management.db"
            #expect(try ManagementStore.boundProducts(at: "\(directory)/none.db").isEmpty)
            var management = try Management(path: path, small: false, shards: [1, 2])
            #expect(try apply(["a", "b"], to: &management) == .ok)
            let bound = try ManagementStore.boundProducts(at: path)
            #expect(bound.map { "\($0.name) \($0.shard)" }.sorted() == ["a 1", "b 2"])
            #expect(ManagementCore.productsOnShardsDropped(bound, shards: [1, 2]) == nil)
            #expect(
                ManagementCore.productsOnShardsDropped(bound, shards: [1])
                    == "shard 2 is no longer in the cluster file, but 1 product is bound to it: b. Drain it first, with it still in the file: "
                    + "`baton drain 2`; then take it out once `baton products` shows no product bound to it or finishing on it")
            #expect(try management.call("drain", .object([("shard", .number(2)), ("actor", .string("alice"))])).0 == .ok)
            #expect(try management.call("move", .object([("product", .string("b")), ("to", .number(1)), ("actor", .string("alice"))])).0 == .ok)
            #expect(ManagementCore.productsOnShardsDropped(try ManagementStore.boundProducts(at: path), shards: [1]) == nil)
        }
    }
}
