extension Set {
    /// Empties a set that a service fills anew each turn, keeping its table if it is of a usual size: made
    /// anew, it grows again through every size up to the turn's, rehashing what it holds at each. A table
    /// past `keptCapacity` (a turn of a large hand-over, say) is let go, or every later turn would walk
    /// its empty buckets.
    mutating func clearForNextTurn(keptCapacity: Int = 4096) {
        if capacity <= keptCapacity { removeAll(keepingCapacity: true) } else { self = [] }
    }
}
