import Testing
import Wire

@Suite struct CodecTests {
    @Test(arguments: MessageID.allCases)
    func everyMessageRoundTripsWithArbitraryFieldValues(id: MessageID) throws {
        var factory = MessageFactory(seed: UInt64(id.rawValue) &* 7919)
        for _ in 0..<300 {
            let message = factory.message(id)
            let frame = message.encoded()
            #expect(try Message.decode(frame) == message)
            #expect(Message.header(of: frame)! == (Message.version, id.rawValue))
        }
    }

    @Test func aLargeFlowsDefinitionTravelsInOneOperationRequest() throws {
        // A flow of 50,000 jobs is a few MiB of JSON: more than an ordinary longstr, within the 16 MiB.
        let definition = String(repeating: "{\"name\": \"job-00000\", \"handler\": \"noop\"},", count: 50_000)
        let request = OperationRequest(request: 1, action: .start, run: 1, product: "p", flow: "f", version: 1, shard: 1, moment: 1, definition: definition)
        #expect(definition.utf8.count > Limits.longstr)
        #expect(try Message.decode(Message.operationRequest(request).encoded()) == .operationRequest(request))
    }

    @Test func headerCarriesSignatureVersionAndID() {
        #expect(Message.pull(Pull(credit: 1)).encoded() == [0x42, 0x54, 0x4E, 0x01, 0x03, 0, 0, 0, 1])
        #expect(Message.heartbeat.encoded() == [0x42, 0x54, 0x4E, 0x01, 0x08])
    }

    @Test func signedFieldsUseTwosComplement() throws {
        let result = TaskResult(task: 1, attempt: 1, outcome: .failed, exitCode: -9, started: 0, duration: 0)
        let decoded = try Message.decode(Message.results(Results(results: [result])).encoded())
        guard case .results(let results) = decoded else { Issue.record("decoded \(decoded)"); return }
        #expect(results.results[0].exitCode == -9)
    }

    @Test func hashesEncodeInKeyOrderSoEqualHashesEncodeEqually() {
        var first = FrameWriter()
        first.hash(["b": "2", "a": "1", "c": "3"])
        var second = FrameWriter()
        second.hash(["c": "3", "a": "1", "b": "2"])
        #expect(first.bytes == second.bytes)
    }

    @Test func messageNamesFollowTheSpecificationsSpelling() {
        #expect(MessageID.controlResult.name == "CONTROL-RESULT")
        #expect(MessageID.apiRequest.name == "API-REQUEST")
        #expect(MessageID.jobUpdates.name == "JOB-UPDATES")
        #expect(Outcome.timedOut.name == "timed-out")
        #expect(RunState.partlyFailed.name == "partly-failed")
    }
}
