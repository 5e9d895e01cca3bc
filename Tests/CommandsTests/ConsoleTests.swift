@testable import Commands
import Testing

@Suite struct ConsoleTests {
    /// Found by an explorer: a failed job's last line of output, shown as its detail, carried "\r\x1b[2K"
    /// and a forged row, so that the terminal showed the job succeeded. Control characters are written
    /// out; newlines, tabs and every printable character, in any script, are not touched.
    @Test func controlCharactersAreWrittenOutAndTheRestLeftAsItIs() {
        let forged = "exit status 9: posting\r\u{1B}[2Kpost  succeeded"
        #expect(StandardConsole.printable(forged) == #"exit status 9: posting\r\x1b[2Kpost  succeeded"#)
        #expect(StandardConsole.printable("bell\u{07} del\u{7F} csi\u{9B}") == #"bell\x07 del\x7f csi\x9b"#)
        let plain = "run 1\tsucceeded\n清算 — café ✓"
        #expect(StandardConsole.printable(plain) == plain)
    }
}
