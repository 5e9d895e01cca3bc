import Glibc

/// Gives the freed part of the heap back to the system (glibc's `malloc_trim`), after a burst of
/// allocations that are gone, such as the rows a service read to rebuild its state at start: glibc keeps
/// freed memory for reuse, and it would count as resident for the life of the process.
enum FreedMemory {
    private typealias Trim = @convention(c) (Int) -> Int32

    /// `malloc_trim`, looked up at run time: `<malloc.h>` is not in Swift's Glibc module, and a C library
    /// without it has nothing to trim.
    private static let trim: Trim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }

    static func returnToSystem() { _ = trim?(0) }
}
