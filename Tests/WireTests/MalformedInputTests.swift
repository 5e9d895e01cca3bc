import Testing
import Wire

@Suite struct MalformedInputTests {
    private func frame(_ id: UInt8, _ body: [UInt8] = []) -> [UInt8] { [0x42, 0x54, 0x4E, 0x01, id] + body }

    @Test func frameShorterThanTheHeaderIsRefused() {
        #expect(throws: DecodingError.tooShort(length: 0)) { try Message.decode([]) }
        #expect(throws: DecodingError.tooShort(length: 4)) { try Message.decode([0x42, 0x54, 0x4E, 0x01]) }
    }

    @Test func wrongSignatureIsRefused() {
        #expect(throws: DecodingError.badSignature) { try Message.decode([0x42, 0x54, 0x4F, 0x01, 0x08]) }
        #expect(Message.header(of: [0x00, 0x54, 0x4E, 0x01, 0x08]) == nil)
    }

    @Test func otherVersionIsRefusedButItsHeaderIsReadable() {
        let v2 = [0x42, 0x54, 0x4E, 0x02, 0x01] as [UInt8]
        #expect(throws: DecodingError.unsupportedVersion(2)) { try Message.decode(v2) }
        #expect(Message.header(of: v2)! == (2, 1))
    }

    @Test func unknownMessageIDIsRefused() {
        #expect(throws: DecodingError.unknownMessage(0x7F)) { try Message.decode(frame(0x7F)) }
    }

    @Test func trailingOctetsAreRefused() {
        #expect(throws: DecodingError.trailingBytes(count: 1)) { try Message.decode(frame(0x08, [0])) }
        #expect(throws: DecodingError.trailingBytes(count: 2)) { try Message.decode(frame(0x03, [0, 0, 0, 1, 9, 9])) }
    }

    @Test func truncatedFieldIsNamed() {
        #expect(throws: DecodingError.truncated(field: "credit")) { try Message.decode(frame(0x03, [0, 0])) }
    }

    @Test func enumerationOutsideItsValuesIsRefused() {
        let control = frame(0x11, [0, 0, 0, 0, 0, 0, 0, 1] + [9] + [UInt8](repeating: 0, count: 13))
        #expect(throws: DecodingError.invalidValue(field: "action", value: 9)) { try Message.decode(control) }
    }

    @Test func countLargerThanTheFrameCouldHoldIsRefusedBeforeAllocating() {
        // RECEIPT claiming 100,000 task-refs in a frame that holds none.
        let receipt = frame(0x06, [0x00, 0x01, 0x86, 0xA0])
        #expect(throws: DecodingError.oversized(field: "tasks", length: 100_000, limit: 0)) {
            try Message.decode(receipt)
        }
        // A count over the protocol's list limit, whatever the frame holds.
        #expect(throws: DecodingError.oversized(field: "tasks", length: 2_000_000, limit: Limits.listCount)) {
            try Message.decode(frame(0x06, [0x00, 0x1E, 0x84, 0x80]))
        }
    }

    @Test func longstrOverItsLimitIsRefused() {
        let length = UInt32(Limits.longstr + 1)
        let body: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1, 0, 200] + [
            UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF),
        ]
        #expect(throws: DecodingError.oversized(field: "detail", length: Limits.longstr + 1, limit: Limits.longstr)) {
            try Message.decode(frame(0x12, body))
        }
    }

    @Test func stepWithZeroPartitionsOrWrongKeyCountIsRefused() {
        func submit(partitions: UInt32, keys: [String]) -> [UInt8] {
            var message = Message.submit(
                Submit(jobs: [
                    JobSpec(
                        run: 1, job: "j", product: "p", flow: "f", moment: 1, type: "t",
                        steps: [StepSpec(name: "s", kind: .command, action: "true")])
                ])
            ).encoded()
            // Rewrite the step's partitions and keys: the last fields of the frame's last step, before
            // the job's run priority (1 octet), fairness key (1) and batch (4).
            var tail = FrameWriter()
            tail.number4(partitions)
            tail.strings(keys)
            let trailer = Array(message.suffix(6))
            message.removeLast(8 + 6)
            return message + tail.bytes + trailer
        }
        #expect(throws: DecodingError.invalidValue(field: "partitions", value: 0)) {
            try Message.decode(submit(partitions: 0, keys: []))
        }
        #expect(throws: DecodingError.invalidValue(field: "partition-keys", value: 1)) {
            try Message.decode(submit(partitions: 2, keys: ["only-one"]))
        }
        #expect(throws: Never.self) { try Message.decode(submit(partitions: 2, keys: ["a", "b"])) }
    }

    @Test(arguments: MessageID.allCases)
    func everyTruncationOfEveryMessageIsATypedError(id: MessageID) {
        var factory = MessageFactory(seed: 0xBAD + UInt64(id.rawValue))
        for _ in 0..<20 {
            let frame = factory.message(id).encoded()
            for length in 0..<frame.count {
                do {
                    _ = try Message.decode(Array(frame[0..<length]))
                    Issue.record("\(id.name) truncated to \(length) of \(frame.count) octets decoded")
                } catch {
                    // Every throw is a DecodingError by the signature's typed throws.
                }
            }
        }
    }

    /// 100,000 random frames, a third pure noise, a third a valid header over noise, and a third a valid
    /// message with octets flipped: each decodes or throws a DecodingError, and none crashes.
    @Test func seededRandomFramesNeverCrashTheDecoder() {
        var rng = SeededGenerator(seed: 20_261_122)
        var factory = MessageFactory(seed: 42)
        var decoded = 0
        var refused = 0
        for round in 0..<100_000 {
            var frame: [UInt8]
            switch round % 3 {
            case 0:
                frame = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                let id = MessageID.allCases.randomElement(using: &rng)!.rawValue
                frame = [0x42, 0x54, 0x4E, 0x01, id]
                frame += (0..<Int.random(in: 0..<96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:
                frame = factory.message(MessageID.allCases.randomElement(using: &rng)!).encoded()
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let index = Int.random(in: 0..<frame.count, using: &rng)
                    frame[index] ^= UInt8.random(in: 1...255, using: &rng)
                }
            }
            do {
                let message = try Message.decode(frame)
                // Whatever decodes must encode to a frame that decodes to the same message.
                #expect(try Message.decode(message.encoded()) == message)
                decoded += 1
            } catch {
                refused += 1
            }
        }
        #expect(decoded + refused == 100_000)
        #expect(refused > 50_000)
    }
}

@Suite struct TextFieldTests {
    @Test func invalidUTF8InATextFieldIsRefused() {
        // DISCONNECT whose reason is the lone octet 0xFF.
        let frame: [UInt8] = [0x42, 0x54, 0x4E, 0x01, 0x09, 0x01, 0x90, 0x01, 0xFF]
        #expect(throws: DecodingError.invalidText(field: "reason")) { try Message.decode(frame) }
    }
}
