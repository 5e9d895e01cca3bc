import Commands
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// A reader that went away (`baton runs | head`) is not an error worth dying of.
signal(SIGPIPE, SIG_IGN)
// Batches of tasks and results are large allocations, freed and made again every turn. Served from the
// heap and kept there, they are reused; above glibc's default threshold each would be a fresh mmap, and
// every page of it a fault to zero.
_ = mallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD
_ = mallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
// And each thread's heap keeps 4 MiB free at its top, not glibc's 128 KiB: with that, a loaded shard
// gave its pages back after each turn's batches were freed and spent 2.5-3.6% of its time faulting them
// in again, zeroed, for the next turn's; with 4 MiB, 0.3%.
_ = mallopt(-2, 4 << 20)  // M_TOP_PAD
// malloc.h is not part of Swift's Glibc module.
@_silgen_name("mallopt") func mallopt(_ parameter: Int32, _ value: Int32) -> Int32

var environment = ProcessInfo.processInfo.environment
// Without USER or LOGNAME (a cron job, a container), who acts for the audit log is the system's name for
// this process's user, as LOGNAME would give it, not "unknown".
if environment["USER"] == nil, environment["LOGNAME"] == nil, !ProcessInfo.processInfo.userName.isEmpty {
    environment["LOGNAME"] = ProcessInfo.processInfo.userName
}
exit(Baton.main(Array(CommandLine.arguments.dropFirst()), environment: environment).rawValue)
