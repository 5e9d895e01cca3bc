// The worker protocol: a worker's DEALER talks to a shard's ROUTER.
//
//     worker = C:READY S:WELCOME *( C:PULL / S:TASKS / C:RESULTS / S:RECEIPT / S:CANCEL / S:DEMAND
//              / C:RECALL S:RECALLED / heartbeat ) [ C:DISCONNECT / S:DISCONNECT ]

/// Registers a worker with a shard; the first message on every connection, and again after DISCONNECT 401.
public struct Ready: WireValue {
    /// The worker's logical ID, stable across its reconnections (`host/pool/n`).
    public var worker: String
    /// A number the worker draws when its process starts; a new one tells the shard the worker restarted.
    public var session: UInt64
    /// Free slots right now: the worker's opening credit.
    public var slots: UInt32
    /// The heartbeat interval the worker asks for, in milliseconds.
    public var heartbeat: UInt32
    /// 1 if the worker runs commands; 0 if it runs handlers only.
    public var commands: UInt8
    /// The worker's capability tags.
    public var tags: [String]
    /// The handlers registered in the worker.
    public var handlers: [String]
    /// Attempts the worker is still running or holds unacknowledged results for.
    public var held: [TaskRef]
    /// Handlers that take tasks as sets, each with the most tasks in one set.
    public var sets: [SetOffer]
    /// 1 if the worker runs command batches (jobs with a `batch`): one command for a set of tasks.
    public var batches: UInt8

    public init(
        worker: String, session: UInt64, slots: UInt32, heartbeat: UInt32, commands: UInt8 = 1, tags: [String] = [],
        handlers: [String] = [], held: [TaskRef] = [], sets: [SetOffer] = [], batches: UInt8 = 0
    ) {
        self.worker = worker
        self.session = session
        self.slots = slots
        self.heartbeat = heartbeat
        self.commands = commands
        self.tags = tags
        self.handlers = handlers
        self.held = held
        self.sets = sets
        self.batches = batches
    }

    public static let minimumSize = 1 + 8 + 4 + 4 + 1 + 4 + 4 + 4 + 4 + 1

    public func encode(to writer: inout FrameWriter) {
        writer.string(worker)
        writer.number8(session)
        writer.number4(slots)
        writer.number4(heartbeat)
        writer.number1(commands)
        writer.strings(tags)
        writer.strings(handlers)
        writer.values(held)
        writer.values(sets)
        writer.number1(batches)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        worker = try reader.string("worker")
        session = try reader.number8("session")
        slots = try reader.number4("slots")
        heartbeat = try reader.number4("heartbeat")
        commands = try reader.number1("commands")
        tags = try reader.strings("tags", limit: Limits.capabilities, length: Limits.capabilityName)
        handlers = try reader.strings("handlers", limit: Limits.capabilities, length: Limits.capabilityName)
        held = try reader.values("held")
        sets = try reader.values("sets")
        batches = try reader.number1("batches")
        if commands > 1 { throw .invalidValue(field: "commands", value: UInt64(commands)) }
        if batches > 1 { throw .invalidValue(field: "batches", value: UInt64(batches)) }
    }
}

/// The shard's answer to READY: the terms of the connection.
public struct Welcome: WireValue {
    /// The shard's ID.
    public var shard: UInt32
    /// The shard's epoch: one more at each start of the shard.
    public var epoch: UInt32
    /// The heartbeat interval both sides keep, in milliseconds.
    public var heartbeat: UInt32
    /// How many intervals of silence make a peer dead.
    public var liveness: UInt8
    /// The largest `data` a result may carry, in octets: at most ``Limits/chunk``, the limit of a `bytes`.
    public var resultLimit: UInt32

    public init(shard: UInt32, epoch: UInt32, heartbeat: UInt32, liveness: UInt8, resultLimit: UInt32) {
        self.shard = shard
        self.epoch = epoch
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.resultLimit = resultLimit
    }

    public static let minimumSize = 4 + 4 + 4 + 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number4(shard)
        writer.number4(epoch)
        writer.number4(heartbeat)
        writer.number1(liveness)
        writer.number4(resultLimit)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        shard = try reader.number4("shard")
        epoch = try reader.number4("epoch")
        heartbeat = try reader.number4("heartbeat")
        liveness = try reader.number1("liveness")
        resultLimit = try reader.number4("result-limit")
        if resultLimit > Limits.chunk { throw .oversized(field: "result-limit", length: Int(resultLimit), limit: Limits.chunk) }
    }
}

/// Adds credit: the shard may send this many more tasks.
public struct Pull: WireValue {
    /// Tasks the worker can take on top of its current credit.
    public var credit: UInt32

    public init(credit: UInt32) { self.credit = credit }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.number4(credit) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        credit = try reader.number4("credit")
    }
}

/// A batch of tasks leased to the worker, never more than its credit (a set counting as one).
public struct Tasks: WireValue {
    /// 0 for tasks to run each on its own; otherwise the ID of a claimed set: the tasks are of one
    /// job type, leased together, and run by one call of a handler or, for a command batch, by one
    /// command.
    public var set: UInt64
    /// The tasks.
    public var tasks: [TaskSpec]

    public init(set: UInt64 = 0, tasks: [TaskSpec]) {
        self.set = set
        self.tasks = tasks
    }

    public static let minimumSize = 8 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.number8(set)
        writer.values(tasks)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        set = try reader.number8("set")
        tasks = try reader.values("tasks")
    }
}

/// A batch of finished attempts.
public struct Results: WireValue {
    /// The results.
    public var results: [TaskResult]

    public init(results: [TaskResult]) { self.results = results }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.values(results) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        results = try reader.values("results")
    }
}

/// The shard has committed these results; the worker may forget them.
public struct Receipt: WireValue {
    /// The attempts whose results are committed (or were stale and are ignored for good).
    public var tasks: [TaskRef]

    public init(tasks: [TaskRef]) { self.tasks = tasks }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.values(tasks) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        tasks = try reader.values("tasks")
    }
}

/// Stops attempts: the worker signals them and kills them after the grace period.
public struct Cancel: WireValue {
    /// How long an attempt may take to stop after SIGTERM before SIGKILL, in milliseconds.
    public var grace: UInt32
    /// The attempts to stop.
    public var tasks: [TaskRef]

    public init(grace: UInt32, tasks: [TaskRef]) {
        self.grace = grace
        self.tasks = tasks
    }

    public static let minimumSize = 8

    public func encode(to writer: inout FrameWriter) {
        writer.number4(grace)
        writer.values(tasks)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        grace = try reader.number4("grace")
        tasks = try reader.values("tasks")
    }
}

/// Ends the conversation. Its layout is the same in every protocol version.
public struct Disconnect: WireValue {
    /// Why: 401 (send READY first), 403 (the worker name is bound to another key), 505 (wrong version),
    /// 503 (stopping); 400 is reserved.
    public var status: Status
    /// The reason in words.
    public var reason: String

    public init(status: Status, reason: String) {
        self.status = status
        self.reason = reason
    }

    public static let minimumSize = 3

    public func encode(to writer: inout FrameWriter) {
        writer.number2(status.rawValue)
        writer.string(reason)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        status = Status(rawValue: try reader.number2("status"))
        reason = try reader.string("reason")
    }
}

/// The shard has tasks this worker could run, and the worker gave it no credit.
public struct Demand: WireValue {
    /// Tasks waiting that the worker could run (an estimate).
    public var pending: UInt32
    /// The sum of the weights of the products those tasks belong to: the share of the worker's time
    /// the shard asks for, against the other shards' (0 is read as 1).
    public var weight: UInt32

    public init(pending: UInt32, weight: UInt32 = 1) {
        self.pending = pending
        self.weight = weight
    }

    public static let minimumSize = 8

    public func encode(to writer: inout FrameWriter) {
        writer.number4(pending)
        writer.number4(weight)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        pending = try reader.number4("pending")
        weight = try reader.number4("weight")
    }
}

/// Asks the shard to give back credit it has not used, so that the worker can give it to another shard.
public struct Recall: WireValue {
    /// The most credit to give back.
    public var credit: UInt32

    public init(credit: UInt32) { self.credit = credit }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.number4(credit) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        credit = try reader.number4("credit")
    }
}

/// The answer to RECALL: the credit the shard gave back. Tasks sent before it used the rest.
public struct Recalled: WireValue {
    /// The credit given back; the worker may promise these slots elsewhere.
    public var credit: UInt32

    public init(credit: UInt32) { self.credit = credit }

    public static let minimumSize = 4

    public func encode(to writer: inout FrameWriter) { writer.number4(credit) }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        credit = try reader.number4("credit")
    }
}
