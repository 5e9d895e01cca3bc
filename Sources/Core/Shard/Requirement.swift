public import Wire

/// What a worker needs to run a task: commands, or one handler; and a set of tags.
public struct Requirement: Hashable, Sendable {
    /// Command or handler.
    public var kind: ActionKind
    /// The handler's name; empty for commands.
    public var handler: String
    /// Tags the worker must all have, sorted.
    public var tags: [String]

    public init(kind: ActionKind, handler: String, tags: [String]) {
        self.kind = kind
        self.handler = kind == .handler ? handler : ""
        self.tags = tags.sorted()
    }

    /// The requirement of one step of a job.
    public init(step: StepSpec, tags: [String]) {
        self.init(kind: step.kind, handler: step.action, tags: tags)
    }
}

/// What a registered worker can run.
public struct Capabilities: Equatable, Sendable {
    /// Whether it runs commands.
    public var commands: Bool
    /// The handlers registered in it.
    public var handlers: Set<String>
    /// Its tags.
    public var tags: Set<String>

    public init(commands: Bool, handlers: Set<String>, tags: Set<String>) {
        self.commands = commands
        self.handlers = handlers
        self.tags = tags
    }

    /// Whether a worker with these capabilities can run a task with `requirement`.
    public func satisfy(_ requirement: Requirement) -> Bool {
        let runs = requirement.kind == .command ? commands : handlers.contains(requirement.handler)
        return runs && requirement.tags.allSatisfy(tags.contains)
    }
}
