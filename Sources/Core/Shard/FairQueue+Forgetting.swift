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
///   since the sweep before.
///
/// A type forgotten and met again is measured again from its first result, as a new type is. The next
/// sweep comes once as many more are held as there are in use (those lanes or tasks out hold), and
/// ``minimumSweep`` more at least: the work of a sweep is paid for by the types met since the one before,
/// and what is held stays within about twice what is in use or met since the sweep before.
extension FairQueue {
    /// Kinds, or cost windows, held before the first sweep, and at least before any.
    static let minimumSweep = 10_000

    /// The kinds held now, and the cost windows: their slots less those given back.
    var kindsHeld: Int { kinds.count - freeKinds.count }
    var windowsHeld: Int { windows.count - freeWindows.count }

    /// Sweeps when enough kinds or windows are held. Only between changes: never while a kind or window
    /// just given is not yet in its lane.
    mutating func forgetIdleTypesIfDue() {
        if kindsHeld >= sweepAt || windowsHeld >= sweepAt { forgetIdleTypes() }
    }

    /// Forgets every kind and cost window that is idle (see the type's comment), and sets the next sweep.
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
        let free = Set(freeKinds)
        for kind in kinds.indices where !kindInUse[kind] && !free.contains(kind) {
            kindIndex.removeValue(forKey: kinds[kind])
            kinds[kind] = Kind(requirement: kinds[kind].requirement, type: "", batchSize: 0)
            freeKinds.append(kind)
        }
        let freeWindowSlots = Set(freeWindows)
        for window in windows.indices where !windowInUse[window] && !windowUsed[window] && !freeWindowSlots.contains(Int32(window)) {
            windowIndex.removeValue(forKey: windowKeys[window])
            windowKeys[window] = CostKey(product: -1, type: "")
            windows[window] = SlidingWindow(capacity: tuning.costWindow)
            inFlight[window] = 0
            probes[window] = Probe()
            freeWindows.append(Int32(window))
        }
        for window in windowUsed.indices { windowUsed[window] = false }
        sweepAt = max(kindsHeld, windowsHeld) + max(Self.minimumSweep, inUse)
    }
}
