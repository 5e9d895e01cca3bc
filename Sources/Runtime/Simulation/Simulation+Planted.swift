import Core
import Foundation
import Wire

/// The defects planted on purpose (`--plant`), each made in what a service sends or reports, or in its
/// store, as a defective service or disk would: the tests that show each invariant can fail.
extension Simulation {
    /// What a defective service would have sent in place of `message` (nil: nothing), for the planted
    /// defects that change messages. Each is made once, but for `skip-firing`, which drops every request
    /// for one instant, from either timer, however often it is sent again.
    func plant(_ message: Message, by index: Int, to destination: Int?) -> Message? {
        guard let planted = options.planted else { return message }
        if planted == .skipFiring, case .timer = processes[index].kind, case .apiRequest(let request) = message, request.method == "fire" {
            let body = try? JSONParser.parse(request.body)
            guard body?["flow"]?.string == "\(Workload.products[0])/f0", let instant = body?["instant"]?.integer else { return message }
            if skippedInstant == nil {
                skippedInstant = Int64(instant)
                trace.add(queue.now, "planted: the timers' firings of \(Workload.products[0])/f0 at \(instant) are lost")
            }
            return Int64(instant) == skippedInstant ? nil : message
        }
        if planted == .dropWeights, case .orchestrator = processes[index].kind, case .control(var control) = message, control.action == .setPolicy,
            control.policy.weight != 1
        {
            trace.add(queue.now, "planted: the orchestrator sends \(control.policy.product)'s policy to its shard with weight 1, not \(control.policy.weight)")
            control.policy.weight = 1
            return .control(control)
        }
        guard !plantedOnce else { return message }
        switch (planted, processes[index].kind, message) {
        case (.releaseEarly, .orchestrator, .submit(var submit)):
            for job in submit.jobs {
                let flow = checker.flows["\(job.product)/\(job.flow)"] ?? [:]
                guard let successor = flow.keys.sorted().first(where: { flow[$0]?.contains(job.job) == true }) else { continue }
                var early = job
                early.job = successor
                submit.jobs.append(early)
                plantedOnce = true
                trace.add(queue.now, "planted: the orchestrator submits \(successor) of run \(job.run) with its predecessor \(job.job)")
                return .submit(submit)
            }
        case (.releaseTwice, .orchestrator, .submit(var submit)):
            guard let job = submit.jobs.first else { break }
            var again = job
            again.generation += 1
            submit.jobs.append(again)
            plantedOnce = true
            trace.add(queue.now, "planted: the orchestrator releases \(job.job) of run \(job.run) again, as generation \(again.generation)")
            return .submit(submit)
        case (.leaseAfterHandOver, .shard(let shard), .tasks(var tasks)):
            guard let given = checker.handedOverTask(on: shard) else { break }
            var again = given
            again.attempt += 1
            tasks.tasks.append(again)
            plantedOnce = true
            trace.add(queue.now, "planted: shard-\(shard) hands out task \(given.task) of run \(given.run), which it handed over")
            return .tasks(tasks)
        case (.leaseAfterSuccess, .shard(let shard), .tasks(var tasks)):
            guard let done = checker.succeededTask(on: shard) else { break }
            tasks.tasks.append(done)
            plantedOnce = true
            trace.add(queue.now, "planted: shard-\(shard) hands out task \(done.task) again")
            return .tasks(tasks)
        case (.doubleLease, .shard(let shard), .tasks(var tasks)):
            guard let worker = destination.map({ processes[$0].name }), let held = checker.lease(on: shard, heldByOtherThan: worker) else { break }
            tasks.tasks.append(held.spec)
            plantedOnce = true
            trace.add(queue.now, "planted: shard-\(shard) hands attempt \(held.spec.attempt) of task \(held.spec.task), held by \(held.worker), to \(worker) too")
            return .tasks(tasks)
        case (.momentBack, .management, .operationRequest(var request)) where request.action == .start && checker.startedAny:
            request.moment = 1
            plantedOnce = true
            trace.add(queue.now, "planted: management starts run \(request.run) with entry moment 1")
            return .operationRequest(request)
        case (.ignoreMove, .management, .operationRequest(var request)) where request.action == .start:
            guard let before = checker.shardBeforeMove(of: request.product, run: request.run) else { break }
            request.shard = before
            plantedOnce = true
            trace.add(queue.now, "planted: management starts run \(request.run) of \(request.product) on shard \(before), which it left")
            return .operationRequest(request)
        case (.answerTwice, .orchestrator, .operationResult(var result)) where checker.answered(result.request):
            result.detail += " (answered again, differently)"
            plantedOnce = true
            trace.add(queue.now, "planted: the orchestrator answers operation request \(result.request) again, differently")
            return .operationResult(result)
        case (.loseRunEnd, .orchestrator, .runUpdates(var updates)) where !faults.active:
            // Once faults stop: a restart of the orchestrator would have management read its open runs again.
            guard let ended = updates.updates.firstIndex(where: { $0.state.isFinal }) else { break }
            let run = updates.updates.remove(at: ended)
            plantedOnce = true
            trace.add(queue.now, "planted: the orchestrator publishes RUN-UPDATES \(updates.sequence) without run \(run.run)'s end")
            return .runUpdates(updates)
        default:
            break
        }
        return message
    }

    /// The frame of a message as a service encodes it; with `garble`, the first JOB-UPDATES a shard
    /// publishes is cut short by an octet, as a defective encoder would.
    func encode(_ message: Message, by index: Int) -> [UInt8] {
        var frame = message.encoded()
        if options.planted == .garble, !plantedOnce, case .shard(let shard) = processes[index].kind, case .jobUpdates = message {
            frame.removeLast()
            plantedOnce = true
            trace.add(queue.now, "planted: shard-\(shard) publishes a JOB-UPDATES an octet short")
        }
        return frame
    }

    /// For the planted `lose-commit`: a copy of a shard's store as it is before its turn commits, until
    /// the defect is planted.
    func copyBeforeCommit(_ index: Int) -> String? {
        guard options.planted == .loseCommit, !plantedOnce, faults.active, case .shard = processes[index].kind, checker.succeededAny else { return nil }
        let copy = "\(options.folder)/\(processes[index].name).before"
        try? FileManager.default.removeItem(atPath: copy)
        guard (try? processes[index].database?.execute("VACUUM INTO '\(copy)'")) != nil else { return nil }
        return copy
    }

    /// The planted `lose-commit`: the shard has committed successes and said so; its store then goes back
    /// to before that commit, under `durability full`, which promises it never does.
    func loseCommit(_ index: Int, keeping copy: String) {
        plantedOnce = true
        trace.add(queue.now, "planted: \(processes[index].name)'s store loses the commit of \(checker.lastCommitSucceeded) success\(checker.lastCommitSucceeded == 1 ? "" : "es") it acknowledged")
        crash(index, "with its last commit lost")
        putBack(copy, as: index)
    }

    /// The planted `damage-store`: 512 octets of management's store's third page overwritten on disk,
    /// after a checkpoint moved every commit there; the connection then drops the pages it cached.
    func damageStore() {
        guard let database = processes[0].database, let file = FileHandle(forWritingAtPath: database.path) else { return }
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        file.seek(toFileOffset: 2 * 4096)
        file.write(Data(repeating: 0xa5, count: 512))
        file.closeFile()
        try? database.execute("PRAGMA shrink_memory")
        trace.add(queue.now, "planted: 512 octets of management's store are overwritten on disk")
    }
}
