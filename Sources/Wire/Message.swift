/// Every message of the Baton protocol, case for case with the message table of `docs/protocol.md`.
///
/// A message travels as one frame (after the ROUTER envelope, or after the topic frame on PUB/SUB):
///
/// ```
/// +-----+-----+-----+---------+----+----------------
/// | 'B' | 'T' | 'N' | version | id | fields ...
/// +-----+-----+-----+---------+----+----------------
/// ```
public enum Message: Equatable, Sendable {
    case ready(Ready)
    case welcome(Welcome)
    case pull(Pull)
    case tasks(Tasks)
    case results(Results)
    case receipt(Receipt)
    case cancel(Cancel)
    case heartbeat
    case disconnect(Disconnect)
    case demand(Demand)
    case recall(Recall)
    case recalled(Recalled)
    case submit(Submit)
    case control(Control)
    case controlResult(ControlResult)
    case handedOver(HandedOver)
    case takeOver(TakeOver)
    case partitionsEnded(PartitionsEnded)
    case jobUpdates(JobUpdates)
    case runUpdates(RunUpdates)
    case beacon(Beacon)
    case fetch(Fetch)
    case fetched(Fetched)
    case operationRequest(OperationRequest)
    case operationResult(OperationResult)
    case runQuery(RunQuery)
    case runDetail(RunDetail)
    case shardQuery(ShardQuery)
    case shardAnswer(ShardAnswer)
    case apiRequest(APIRequest)
    case apiReply(APIReply)

    /// The signature every frame starts with.
    public static let signature: [UInt8] = [0x42, 0x54, 0x4E]
    /// The protocol version this codec speaks.
    public static let version: UInt8 = 1
    /// The octets before a message's fields: signature, version and ID.
    public static let headerSize = 5
}

/// A message's ID: its octet in the header and its name in the specification.
public enum MessageID: UInt8, Sendable, CaseIterable {
    case ready = 0x01
    case welcome = 0x02
    case pull = 0x03
    case tasks = 0x04
    case results = 0x05
    case receipt = 0x06
    case cancel = 0x07
    case heartbeat = 0x08
    case disconnect = 0x09
    case demand = 0x0A
    case recall = 0x0B
    case recalled = 0x0C
    case submit = 0x10
    case control = 0x11
    case controlResult = 0x12
    case handedOver = 0x13
    case takeOver = 0x14
    case partitionsEnded = 0x15
    case jobUpdates = 0x20
    case runUpdates = 0x21
    case beacon = 0x22
    case fetch = 0x23
    case fetched = 0x24
    case operationRequest = 0x30
    case operationResult = 0x31
    case runQuery = 0x32
    case runDetail = 0x33
    case shardQuery = 0x34
    case shardAnswer = 0x35
    case apiRequest = 0x40
    case apiReply = 0x41

    /// The message's name as the specification spells it (`CONTROL-RESULT`).
    public var name: String { kebabCase(String(describing: self)).uppercased() }
}

extension Message {
    /// The message's ID.
    public var id: MessageID {
        switch self {
        case .ready: .ready
        case .welcome: .welcome
        case .pull: .pull
        case .tasks: .tasks
        case .results: .results
        case .receipt: .receipt
        case .cancel: .cancel
        case .heartbeat: .heartbeat
        case .disconnect: .disconnect
        case .demand: .demand
        case .recall: .recall
        case .recalled: .recalled
        case .submit: .submit
        case .control: .control
        case .controlResult: .controlResult
        case .handedOver: .handedOver
        case .takeOver: .takeOver
        case .partitionsEnded: .partitionsEnded
        case .jobUpdates: .jobUpdates
        case .runUpdates: .runUpdates
        case .beacon: .beacon
        case .fetch: .fetch
        case .fetched: .fetched
        case .operationRequest: .operationRequest
        case .operationResult: .operationResult
        case .runQuery: .runQuery
        case .runDetail: .runDetail
        case .shardQuery: .shardQuery
        case .shardAnswer: .shardAnswer
        case .apiRequest: .apiRequest
        case .apiReply: .apiReply
        }
    }

    /// The message body, or nil for HEARTBEAT, which has none.
    public var body: (any WireValue)? {
        switch self {
        case .ready(let body): body
        case .welcome(let body): body
        case .pull(let body): body
        case .tasks(let body): body
        case .results(let body): body
        case .receipt(let body): body
        case .cancel(let body): body
        case .heartbeat: nil
        case .disconnect(let body): body
        case .demand(let body): body
        case .recall(let body): body
        case .recalled(let body): body
        case .submit(let body): body
        case .control(let body): body
        case .controlResult(let body): body
        case .handedOver(let body): body
        case .takeOver(let body): body
        case .partitionsEnded(let body): body
        case .jobUpdates(let body): body
        case .runUpdates(let body): body
        case .beacon(let body): body
        case .fetch(let body): body
        case .fetched(let body): body
        case .operationRequest(let body): body
        case .operationResult(let body): body
        case .runQuery(let body): body
        case .runDetail(let body): body
        case .shardQuery(let body): body
        case .shardAnswer(let body): body
        case .apiRequest(let body): body
        case .apiReply(let body): body
        }
    }

    /// Encodes the message as one frame.
    public func encoded() -> [UInt8] {
        var writer = FrameWriter(capacity: 256)
        for octet in Message.signature { writer.number1(octet) }
        writer.number1(Message.version)
        writer.number1(id.rawValue)
        body?.encode(to: &writer)
        return writer.bytes
    }

    /// Reads a frame's header without decoding its fields: nil unless it starts with the signature.
    ///
    /// A service uses it to tell a peer of another protocol version (answered with DISCONNECT 505)
    /// from garbage (dropped and counted).
    public static func header(of frame: [UInt8]) -> (version: UInt8, id: UInt8)? {
        guard frame.count >= headerSize, Array(frame[0..<3]) == signature else { return nil }
        return (frame[3], frame[4])
    }

    /// Decodes one frame, or throws why it is not a well-formed message of this version.
    public static func decode(_ frame: [UInt8]) throws(DecodingError) -> Message {
        if frame.count > Limits.frame { throw .oversized(field: "frame", length: frame.count, limit: Limits.frame) }
        guard frame.count >= headerSize else { throw .tooShort(length: frame.count) }
        guard frame[0] == signature[0], frame[1] == signature[1], frame[2] == signature[2] else {
            throw .badSignature
        }
        guard frame[3] == version else { throw .unsupportedVersion(frame[3]) }
        guard let id = MessageID(rawValue: frame[4]) else { throw .unknownMessage(frame[4]) }
        var reader = FrameReader(frame, offset: headerSize)
        let message: Message
        switch id {
        case .ready: message = .ready(try Ready(from: &reader))
        case .welcome: message = .welcome(try Welcome(from: &reader))
        case .pull: message = .pull(try Pull(from: &reader))
        case .tasks: message = .tasks(try Tasks(from: &reader))
        case .results: message = .results(try Results(from: &reader))
        case .receipt: message = .receipt(try Receipt(from: &reader))
        case .cancel: message = .cancel(try Cancel(from: &reader))
        case .heartbeat: message = .heartbeat
        case .disconnect: message = .disconnect(try Disconnect(from: &reader))
        case .demand: message = .demand(try Demand(from: &reader))
        case .recall: message = .recall(try Recall(from: &reader))
        case .recalled: message = .recalled(try Recalled(from: &reader))
        case .submit: message = .submit(try Submit(from: &reader))
        case .control: message = .control(try Control(from: &reader))
        case .controlResult: message = .controlResult(try ControlResult(from: &reader))
        case .handedOver: message = .handedOver(try HandedOver(from: &reader))
        case .takeOver: message = .takeOver(try TakeOver(from: &reader))
        case .partitionsEnded: message = .partitionsEnded(try PartitionsEnded(from: &reader))
        case .jobUpdates: message = .jobUpdates(try JobUpdates(from: &reader))
        case .runUpdates: message = .runUpdates(try RunUpdates(from: &reader))
        case .beacon: message = .beacon(try Beacon(from: &reader))
        case .fetch: message = .fetch(try Fetch(from: &reader))
        case .fetched: message = .fetched(try Fetched(from: &reader))
        case .operationRequest: message = .operationRequest(try OperationRequest(from: &reader))
        case .operationResult: message = .operationResult(try OperationResult(from: &reader))
        case .runQuery: message = .runQuery(try RunQuery(from: &reader))
        case .runDetail: message = .runDetail(try RunDetail(from: &reader))
        case .shardQuery: message = .shardQuery(try ShardQuery(from: &reader))
        case .shardAnswer: message = .shardAnswer(try ShardAnswer(from: &reader))
        case .apiRequest: message = .apiRequest(try APIRequest(from: &reader))
        case .apiReply: message = .apiReply(try APIReply(from: &reader))
        }
        try reader.finish()
        return message
    }
}

/// `controlResult` → `control-result`: the one spelling rule between Swift names and the specification's.
func kebabCase(_ camel: String) -> String {
    var result = ""
    for character in camel {
        if character.isUppercase {
            if !result.isEmpty { result.append("-") }
            result.append(contentsOf: character.lowercased())
        } else {
            result.append(character)
        }
    }
    return result
}
