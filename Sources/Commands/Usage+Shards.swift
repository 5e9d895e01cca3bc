// The help of the commands that move products between shards: move, drain, undrain and rebalance.
extension Usage {
    /// `baton move --help`.
    static let moveHelp = Entry(
        summary: "move a product to another shard: its new runs go there",
        text: """
            usage: baton move [options] PRODUCT --to SHARD

            Binds the product to SHARD. Its policy goes there first; every run started from the
            orchestrator's answer on runs on SHARD, with no pause. Open runs follow, each as its
            old shard gives it up with what succeeded; their tasks running then finish there, on
            their workers, and their ends go to SHARD. A run with a task waiting for a retry
            follows once it is not. `baton products` shows the move until nothing of the product
            runs on the old shard. Needs the admin role. docs/cluster.md.

            Options:
              --to SHARD     the shard to move to (an ID from the cluster file)
            """ + "\n" + actionHelp + "\n" + targetHelp)

    /// `baton drain --help`.
    static let drainHelp = Entry(
        summary: "retire a shard: it takes no new products, and every product on it moves off",
        text: """
            usage: baton drain [options] SHARD

            Marks SHARD drained in management first, then moves each product bound to it, one at
            a time and the most loaded first, to the shard not drained with the least measured
            load then (then the fewest products), and prints each move. From then on no new
            product is bound to the shard, `baton move --to SHARD` is refused, and `baton
            rebalance` plans no move onto it, until `baton undrain SHARD`; management keeps this
            across restarts, and `baton products` says which shards are drained. The shard then
            takes no new runs; its open runs follow their products, their running tasks finishing
            there. Retire it once `baton products` shows nothing finishing on it. Drained again, it
            moves what is left on it. Needs the admin role. docs/cluster.md.

            Options:
              --actor NAME   who acts, for the audit log (default: $BATON_ACTOR, $USER, $LOGNAME, else the system user)
              --json         print the moves as JSON
            """ + "\n" + targetHelp)

    /// `baton undrain --help`.
    static let undrainHelp = Entry(
        summary: "open a drained shard again to new products and moves",
        text: """
            usage: baton undrain [options] SHARD

            Undoes `baton drain SHARD`'s mark: new products may be bound to the shard again, and
            products moved onto it. Nothing moves back by itself: `baton rebalance --apply` moves
            products onto it, or `baton move PRODUCT --to SHARD`. Needs the admin role.
            docs/cluster.md.

            Options:
              --actor NAME   who acts, for the audit log (default: $BATON_ACTOR, $USER, $LOGNAME, else the system user)
              --json         print management's answer as JSON
            """ + "\n" + targetHelp)

    /// `baton rebalance --help`.
    static let rebalanceHelp = Entry(
        summary: "plan moves of products that even out the shards' load, and make them",
        text: """
            usage: baton rebalance [--plan | --apply] [--tolerance PCT] [--pin PRODUCT]... [options]

            Reads each product's load as management measures it (its jobs ended a second over the
            last 10 minutes, or since management started) and prints each shard's load now and
            after a plan of moves that brings every shard within the tolerance of the mean: from
            the most loaded shard to the least, the product nearest half the gap first, each at
            most once. With no load measured, it evens out the number of products instead.
            --plan (the default) changes nothing; --apply then makes the moves one at a time, as
            `baton move` does, and Ctrl-C stops it between two moves. A drained shard (`baton
            drain`) is left out: nothing moves onto it. Needs the admin role to apply.
            docs/cluster.md.

            Options:
              --plan           print the plan only (the default)
              --apply          make the moves
              --tolerance PCT  how far above the mean a shard may stay, in percent (default 10)
              --pin PRODUCT    keep PRODUCT where it is (repeat for more)
              --actor NAME     who acts, for the audit log (default: $BATON_ACTOR, $USER, $LOGNAME, else the system user)
              --json           print the plan (and the moves made) as JSON
            """ + "\n" + targetHelp)
}
