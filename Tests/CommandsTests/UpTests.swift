@testable import Commands
import Foundation
import Glibc
import Testing

/// How `baton up` tells a process that runs from one that is going: from `/proc`, not from a PID file.
@Suite struct UpTests {
    @Test func aKilledProcessStillBeingTornDownIsDyingAndARunningOneIsNot() {
        let running = "Name:\tbaton\nState:\tS (sleeping)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
        #expect(!Up.isDying(status: running))
        // SIGKILL is signal 9: bit 8 of the pending masks.
        #expect(Up.isDying(status: running.replacingOccurrences(of: "ShdPnd:\t0000000000000000", with: "ShdPnd:\t0000000000000100")))
        #expect(Up.isDying(status: running.replacingOccurrences(of: "SigPnd:\t0000000000000000", with: "SigPnd:\t0000000000000100")))
        #expect(!Up.isDying(status: running.replacingOccurrences(of: "ShdPnd:\t0000000000000000", with: "ShdPnd:\t0000000000004000")))
        #expect(Up.isDying(status: running.replacingOccurrences(of: "S (sleeping)", with: "Z (zombie)")))
        #expect(!Up.isDying(getpid()))
    }

    @Test func theHolderOfADataFoldersLockIsFoundInProcLocks() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-lock-\(UUID().uuidString)").path
        defer { unlink(path) }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        #expect(Up.lockHolder(ofFile: path) == nil)
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(Up.lockHolder(ofFile: path) == getpid())
    }
}
