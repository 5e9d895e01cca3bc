public import Wire

/// What the worker runtime must do.
public enum WorkerEffect: Equatable, Sendable {
    /// Send a message to the shard of a link.
    case send(link: Int, Message)
    /// Start an attempt: a command in a child process, or a handler.
    case start(WorkerCore.AttemptID, TaskSpec)
    /// Start the tasks of a claimed set (the attempts are the link's and the tasks' own): for handler
    /// tasks, one call of their set handler with all of them; for command tasks (a command batch), one
    /// process for all of them (`docs/flows.md`, "Command batches").
    case startSet(link: Int, set: UInt64, [TaskSpec])
    /// Signal a running command's process group. For a command batch, the attempt is any one of the
    /// batch's, and the signal goes to the batch's one process.
    case signal(WorkerCore.AttemptID, WorkerSignal)
    /// Forget a handler attempt that was stopped: its return will be ignored.
    case abandon(WorkerCore.AttemptID)
    /// Close the link's socket and open a new one (before the READY that follows).
    case reconnect(link: Int)
    /// The shard refused the worker for good.
    case refused(link: Int, reason: String)
    /// The shard refused the worker's READY because its name is bound to another key there (DISCONNECT
    /// 403); the link registers again after its backoff.
    case forbidden(link: Int, reason: String)
    /// The shard ended the conversation with another status (409: another process is registered under
    /// this worker's name there); the link registers again after its backoff, its attempts going on.
    case turnedAway(link: Int, status: UInt16, reason: String)
}

/// How to stop a command.
public enum WorkerSignal: Equatable, Sendable {
    /// SIGTERM to the process group: please stop.
    case terminate
    /// SIGKILL to the process group.
    case kill
}

extension WorkerEffect {
    /// The message this effect sends, as every core's turns deliver theirs; nil for the effects that are
    /// not messages (attempts started and signalled, sockets reopened).
    public var delivery: Delivery? {
        if case .send(let link, let message) = self { return Delivery(message, to: .link(link)) }
        return nil
    }
}
