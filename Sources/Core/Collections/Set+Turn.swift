extension Set {
    /// Empties a set that a service fills anew each turn, keeping the size of its table: made anew, it
    /// grows again through every size up to the turn's, rehashing what it holds at each. (A set whose
    /// storage the turn still shares gets a new table of that size, one allocation.) A table for more
    /// than `keptCapacity` elements (a turn of a large hand-over, say) is let go, or every later turn
    /// would walk its empty buckets.
    mutating func clearForNextTurn(keptCapacity: Int = 4096) {
        if capacity <= keptCapacity { removeAll(keepingCapacity: true) } else { self = [] }
    }
}
