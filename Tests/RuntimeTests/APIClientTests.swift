import Core
import Runtime
import Testing

@Suite struct APIClientTests {
    @Test func aRequestOverTheLimitIsRefusedHereNamingIt() throws {
        let client = try APIClient(endpoint: "tcp://127.0.0.1:9")
        let files = JSON.object([("files", .array([.object([("path", .string("big.json")), ("text", .string(String(repeating: "x", count: 17 << 20)))])]))])
        #expect {
            _ = try client.call("apply", files)
        } throws: { error in
            error is APIClient.Refused && "\(error)".contains("the apply request is ") && "\(error)".contains("more than the 16777216 (16 MiB) an API request may carry")
        }
    }
}
