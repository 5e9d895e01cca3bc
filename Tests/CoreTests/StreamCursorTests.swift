import Core
import Testing

@Suite struct StreamCursorTests {
    let start = Timestamp(milliseconds: 10_000)

    @Test func contiguousMessagesApplyAndRepeatsAreIgnored() {
        var cursor = StreamCursor(publisher: "shard-1", epoch: 1, now: start)
        #expect(cursor.received(epoch: 1, sequence: 1, now: start) == .apply)
        #expect(cursor.received(epoch: 1, sequence: 2, now: start) == .apply)
        #expect(cursor.received(epoch: 1, sequence: 2, now: start) == .ignore)
        #expect(cursor.received(epoch: 1, sequence: 1, now: start) == .ignore)
        #expect(cursor.sequence == 2)
    }

    @Test func aGapFetchesOnceFromTheLastAppliedSequence() {
        var cursor = StreamCursor(publisher: "shard-1", sequence: 4, now: start)
        #expect(cursor.received(epoch: 0, sequence: 7, now: start) == .fetch(after: 4))
        #expect(cursor.received(epoch: 0, sequence: 8, now: start) == .ignore)  // The FETCH will bring it.
        #expect(cursor.received(epoch: 0, sequence: 5, now: start) == .apply)  // Contiguous still applies.
        #expect(cursor.fetched(status: 200, epoch: 0, sequence: 8, now: start) == .fetch(after: 5))
    }

    @Test func aBeaconAheadOrANewEpochFetches() {
        var cursor = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 3, now: start)
        #expect(cursor.beacon(epoch: 1, sequence: 3, now: start) == .ignore)
        #expect(cursor.beacon(epoch: 1, sequence: 4, now: start) == .fetch(after: 3))
        var other = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 3, now: start)
        #expect(other.beacon(epoch: 2, sequence: 3, now: start) == .fetch(after: 3))
    }

    @Test func aSilentPublisherIsFetchedFromAndAnUnansweredFetchIsRepeated() {
        var cursor = StreamCursor(publisher: "shard-1", now: start, silence: 3000, fetchTimeout: 2000)
        #expect(cursor.tick(now: start.adding(milliseconds: 2999)) == .ignore)
        #expect(cursor.tick(now: start.adding(milliseconds: 3000)) == .fetch(after: 0))
        #expect(cursor.tick(now: start.adding(milliseconds: 4999)) == .ignore)
        #expect(cursor.tick(now: start.adding(milliseconds: 5000)) == .fetch(after: 0))
    }

    @Test func aTrimmedOrLostLogAsksForResynchronisation() {
        var trimmed = StreamCursor(publisher: "shard-1", sequence: 10, now: start)
        #expect(trimmed.fetched(status: 410, epoch: 1, sequence: 900, now: start) == .resynchronise)
        #expect(trimmed.sequence == 900)
        var lost = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 10, now: start)
        #expect(lost.received(epoch: 2, sequence: 3, now: start) == .fetch(after: 10))
        #expect(lost.fetched(status: 200, epoch: 2, sequence: 3, now: start) == .resynchronise)
        #expect(lost.received(epoch: 2, sequence: 4, now: start) == .apply)
    }

    /// A publisher that restarted fetches first, even for the next sequence; FETCHED's `first` tells a
    /// restart that kept its log from one that lost its last commits (a power loss under durability
    /// normal) and has since numbered other messages as those this cursor applied.
    @Test func aNewEpochThatBeganAtOrBeforeTheCursorAsksForResynchronisation() {
        var kept = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 10, now: start)
        #expect(kept.received(epoch: 2, sequence: 11, now: start) == .fetch(after: 10))
        #expect(kept.received(epoch: 2, sequence: 12, now: start) == .ignore)  // The FETCH will bring it.
        #expect(kept.fetched(status: 200, epoch: 2, sequence: 12, first: 11, now: start) == .fetch(after: 10))
        #expect(kept.received(epoch: 2, sequence: 11, now: start) == .apply)
        #expect(kept.received(epoch: 2, sequence: 12, now: start) == .apply)

        var lost = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 10, now: start)
        // The publisher went back to 8, and has published 9 to 11 since: 11 looks like the next one.
        #expect(lost.received(epoch: 2, sequence: 11, now: start) == .fetch(after: 10))
        #expect(lost.fetched(status: 200, epoch: 2, sequence: 11, first: 9, now: start) == .resynchronise)
        #expect(lost.sequence == 11 && lost.epoch == 2)
        #expect(lost.received(epoch: 2, sequence: 12, now: start) == .apply)

        // A log holds messages of several epochs: fetched, each keeps its own, and those before the
        // epoch the cursor knows apply in order.
        var behind = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 10, now: start)
        #expect(behind.received(epoch: 3, sequence: 30, now: start) == .fetch(after: 10))
        #expect(behind.fetched(status: 206, epoch: 3, sequence: 30, first: 21, now: start) == .fetch(after: 10))
        #expect(behind.received(epoch: 1, sequence: 11, now: start) == .apply)
        #expect(behind.received(epoch: 2, sequence: 12, now: start) == .apply)
        #expect(behind.received(epoch: 3, sequence: 13, now: start) == .apply)
        #expect(behind.received(epoch: 2, sequence: 12, now: start) == .ignore)

        // A publisher that does not say where its epoch began is taken at its word.
        var unknown = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 10, now: start)
        #expect(unknown.received(epoch: 2, sequence: 11, now: start) == .fetch(after: 10))
        #expect(unknown.fetched(status: 200, epoch: 2, sequence: 11, first: 0, now: start) == .fetch(after: 10))
    }

    @Test func aCursorThatLiveMessagesMovedPastTheFetchedEndIsUpToDate() {
        var cursor = StreamCursor(publisher: "shard-1", epoch: 1, sequence: 5, now: start)
        #expect(cursor.received(epoch: 1, sequence: 7, now: start) == .fetch(after: 5))
        // The fetch brings 6 and 7, and the shard says its newest is 7; live 8 and 9 were applied before
        // FETCHED was read.
        #expect(cursor.received(epoch: 1, sequence: 6, now: start) == .apply)
        #expect(cursor.received(epoch: 1, sequence: 7, now: start) == .apply)
        #expect(cursor.received(epoch: 1, sequence: 8, now: start) == .apply)
        #expect(cursor.received(epoch: 1, sequence: 9, now: start) == .apply)
        #expect(cursor.fetched(status: 200, epoch: 1, sequence: 7, now: start) == .upToDate)
        #expect(cursor.sequence == 9)
    }
}
