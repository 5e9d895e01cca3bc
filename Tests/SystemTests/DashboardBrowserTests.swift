import Core
import Foundation
import Glibc
import Runtime
import Testing

/// `baton dev` runs the example flow, and a real headless Chromium, driven by Selenium
/// (`tools/web-test/test_dashboard.py`), reads the dashboard as an operator would: the run page draws
/// every job succeeded and a bar for each attempt. `make test` installs Chromium, chromedriver and
/// Selenium; `make screenshots` keeps the screenshots in docs/images.
@Suite(.serialized, .enabled(if: Browser.ready, "needs BATON_TEST_PYTHON with selenium, and chromium with chromedriver (make test installs them)"))
struct DashboardBrowserTests {
    @Test func aHeadlessBrowserSeesTheExampleRunOnTheDashboard() throws {
        try withTemporaryFolder { folder in
            let (dev, banner) = try startDev(data: "\(folder)/data", ["--web", "127.0.0.1:0"])
            defer {
                dev.interrupt()
                dev.waitUntilExit()
            }
            let url = banner.split(separator: "\n").first { $0.hasPrefix("dashboard:") }?.split(separator: " ").last.map(String.init) ?? ""
            #expect(url.hasPrefix("http://127.0.0.1:"), "\(banner)")
            let data = ["--data", "\(folder)/data"]
            #expect(try ChaosTests.baton(["apply"] + data + ["\(repositoryRoot)/examples/payments-end-of-day.json"]).0 == 0)
            let (started, output) = try ChaosTests.baton(["start"] + data + ["payments/end-of-day", "--wait", "--json"])
            #expect(started == 0, "\(output)")
            let run = (try? JSONParser.parse(output))?["run"]?["run"]?.integer ?? 1
            let screenshots = ProcessInfo.processInfo.environment["BATON_SCREENSHOTS"] ?? "\(folder)/screenshots"
            let (status, said) = try runProgram(
                Browser.python, ["\(repositoryRoot)/tools/web-test/test_dashboard.py", "--url", url, "--run", String(run), "--screenshots", screenshots])
            #expect(status == 0, "\(said)")
            for page in ["products", "runs", "run", "flow", "shards"] {
                #expect(FileManager.default.fileExists(atPath: "\(screenshots)/\(page).png"), "a screenshot of \(page)")
            }
        }
    }
}

/// The Python that drives the browser, and whether the browser is there.
enum Browser {
    static let python = ProcessInfo.processInfo.environment["BATON_TEST_PYTHON"] ?? ""
    static var ready: Bool {
        !python.isEmpty && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    }
}
