/// Forgetting the job types a shard no longer sees.
///
/// A job's type is its own unless its flow names one (`FLOW/JOB`), so a shard meets a new kind of work
/// and a new cost window for every job definition of its products, millions over a long life. Each held
/// a kind, its index entry, and up to ``Tuning/costWindow`` samples, and none was ever let go: the
/// memory grew with the definitions ever run, not with the work at hand.
///
/// Once as many are held as ``sweepAt`` says, those idle are forgotten and their slots given again:
/// - a kind no lane holds;
/// - a cost window no lane holds, with no task out, and not used (made, or a result of it measured)
///   while the last ``minimumSweep`` windows were made.
///
/// A type forgotten and met again is measured again from its first result, as a new type is. Free slots
/// are given lowest first, and those at the end are let go, with the room of the indexes, so that what
/// is held shrinks back after a peak. The next sweep comes once as many more are held as are in use
/// (those lanes or tasks out hold), and ``minimumSweep`` more at least.
extension FairQueue {
    /// Kinds, or cost windows, held before the first sweep, and made at least between two.
    static let minimumSweep = 10_000

    /// The kinds held now, and the cost windows: their slots less those free.
    var kindsHeld: Int { kinds.count - freeKinds.count }
    var windowsHeld: Int { windows.count - freeWindows.count }

    /// Sweeps when enough kinds or windows are held. Only between changes: never while a kind or window
    /// just given is not yet in its lane.
    mutating func forgetIdleTypesIfDue() {
        if kindsHeld >= sweepAt || windowsHeld >= sweepAt { forgetIdleTypes() }
    }

    /// Forgets every kind and cost window that is idle (see the type's comment), lets go of the free slots
    /// at the end, and sets the next sweep.
    mutating func forgetIdleTypes() {
        var kindInUse = [Bool](repeating: false, count: kinds.count)
        var windowInUse = [Bool](repeating: false, count: windows.count)
        for product in products {
            for key in product.keys where key.inUse {
                for lane in key.lanes {
                    kindInUse[lane.kind] = true
                    windowInUse[Int(lane.window)] = true
                }
            }
        }
        for window in windows.indices where inFlight[window] >= 1e-6 { windowInUse[window] = true }
        let inUse = max(kindInUse.lazy.filter { $0 }.count, windowInUse.lazy.filter { $0 }.count)

        for kind in kinds.indices where !kindInUse[kind] && !Self.isFree(kinds[kind]) {
            kindIndex.removeValue(forKey: kinds[kind])
            kinds[kind] = Self.freeKind(kinds[kind])
        }
        for window in windows.indices
        where !windowInUse[window] && windowKeys[window].product >= 0 && windowsMade - windowLastUsed[window] >= Self.minimumSweep {
            windowIndex.removeValue(forKey: windowKeys[window])
            windowKeys[window] = CostKey(product: -1, type: "")
            windows[window] = SlidingWindow(capacity: tuning.costWindow)
            inFlight[window] = 0
            probes[window] = Probe()
        }

        // The free slots at the end go; the others are listed highest first, so the lowest is given next.
        while let last = kinds.last, Self.isFree(last) {
            kinds.removeLast()
            requirementOfKind.removeLast()
        }
        while let last = windowKeys.last, last.product < 0 {
            windowKeys.removeLast()
            windowLastUsed.removeLast()
            windows.removeLast()
            inFlight.removeLast()
            probes.removeLast()
        }
        freeKinds = kinds.indices.reversed().filter { Self.isFree(kinds[$0]) }
        freeWindows = windows.indices.reversed().filter { windowKeys[$0].product < 0 }.map(Int32.init)
        shrink()
        sweepAt = max(kindsHeld, windowsHeld) + max(Self.minimumSweep, inUse)
    }

    /// A kind's slot once forgotten: its requirement kept (it holds no strings of the type), marked by a
    /// batch size no kind has.
    private static func freeKind(_ kind: Kind) -> Kind { Kind(requirement: kind.requirement, type: "", batchSize: -1) }
    private static func isFree(_ kind: Kind) -> Bool { kind.batchSize < 0 }

    /// Gives back the room of arrays and indexes far larger than what they hold, as after a peak.
    private mutating func shrink() {
        func fitted<Element>(_ array: inout [Element]) {
            if array.capacity > 2 * array.count + 1024 { array = array.withUnsafeBufferPointer { Array($0) } }
        }
        fitted(&kinds)
        fitted(&requirementOfKind)
        fitted(&windows)
        fitted(&inFlight)
        fitted(&probes)
        fitted(&windowKeys)
        fitted(&windowLastUsed)
        fitted(&freeKinds)
        fitted(&freeWindows)
        if kindIndex.capacity > 4 * kindIndex.count + 1024 { kindIndex = Dictionary(uniqueKeysWithValues: kindIndex.map { ($0.key, $0.value) }) }
        if windowIndex.capacity > 4 * windowIndex.count + 1024 {
            windowIndex = Dictionary(uniqueKeysWithValues: windowIndex.map { ($0.key, $0.value) })
        }
    }
}
