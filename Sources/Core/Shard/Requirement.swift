public import Wire

/// What a worker needs to run a task: commands (one at a time, or in batches), or one handler; and a set of tags.
public struct Requirement: Hashable, Sendable {
    // Stored by size, largest first: 32 octets, not 40 (a shard's job holds one).
    /// The handler's name; empty for commands.
    public var handler: String
    /// Tags the worker must all have, sorted.
    public var tags: [String]
    /// Command or handler.
    public var kind: ActionKind
    /// Whether the tasks go out as command batches, which only a worker that offers them can run.
    public var batched: Bool

    public init(kind: ActionKind, handler: String, tags: [String], batched: Bool = false) {
        self.kind = kind
        self.handler = kind == .handler ? handler : ""
        self.tags = tags.sorted()
        self.batched = kind == .command && batched
    }

    /// The requirement of one step of a job.
    public init(step: StepSpec, of job: JobSpec) {
        self.init(kind: step.kind, handler: step.action, tags: job.tags, batched: job.batch > 1)
    }
}

/// What a registered worker can run.
public struct Capabilities: Hashable, Sendable {
    /// Whether it runs commands.
    public var commands: Bool
    /// The handlers registered in it.
    public var handlers: Set<String>
    /// Its tags.
    public var tags: Set<String>
    /// Whether it runs command batches.
    public var batches: Bool

    public init(commands: Bool, handlers: Set<String>, tags: Set<String>, batches: Bool = false) {
        self.commands = commands
        self.handlers = handlers
        self.tags = tags
        self.batches = batches
    }

    /// Whether a worker with these capabilities can run a task with `requirement`.
    public func satisfy(_ requirement: Requirement) -> Bool {
        let runs = requirement.kind == .command ? commands && (batches || !requirement.batched) : handlers.contains(requirement.handler)
        return runs && requirement.tags.allSatisfy(tags.contains)
    }
}
