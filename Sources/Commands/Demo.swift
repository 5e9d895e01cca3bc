import Core
import Foundation
import Runtime
import Wire

/// `baton demo`: the example flow on an embedded Baton, with live progress and a table at the end.
enum Demo {
    /// The file that marks a folder as a demo's, which the next demo may empty.
    static let marker = "baton-demo"

    /// Empties `data` for a new demo, but for its lock: refused if it holds anything a demo did not put there.
    static func empty(_ data: String) throws(CommandFailure) {
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []).subtracting(["lock"])
        if !files.isEmpty && !files.contains(marker) {
            let named = files.sorted().prefix(3).joined(separator: ", ") + (files.count > 3 ? ", …" : "")
            throw CommandFailure(
                code: .failure,
                message: "\(data) holds files no demo made (\(named)), and a demo empties its folder first: name an empty or new one with --data DIR")
        }
        for file in files {
            do {
                try FileManager.default.removeItem(atPath: "\(data)/\(file)")
            } catch {
                throw CommandFailure(code: .failure, message: "cannot empty \(data) for the demo: \(error.localizedDescription)")
            }
        }
        _ = FileManager.default.createFile(atPath: "\(data)/\(marker)", contents: Data("made by baton demo, which empties this folder each time\n".utf8))
    }

    static func run(file: String, data: String, console: any Console) throws(CommandFailure) -> ExitCode {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CommandFailure(code: .failure, message: "\(file): cannot read it; run the demo from Baton's folder, or name a flow file")
        }
        let definition: FlowDefinition
        switch FlowFile.parse(text, file: file) {
        case .success(let parsed): definition = parsed
        case .failure(let error): throw CommandFailure(code: .failure, message: error.description)
        }
        // The lock first: a running Baton's folder is refused before anything in it is touched (found by an
        // explorer: the demo emptied a running `baton dev`'s folder, its lock file with it).
        let lock = try DataLock.take(data)
        defer { lock.release() }
        try empty(data)
        var options = EmbeddedCluster.Options(data: data)
        options.api = nil
        options.log = .error
        let cluster: EmbeddedCluster
        do {
            cluster = try EmbeddedCluster(options)
        } catch {
            throw CommandFailure(code: .failure, message: "cannot start an embedded Baton: \(error)")
        }
        defer { cluster.stop() }
        let client: Client
        do {
            client = Client(api: try APIClient(endpoint: cluster.api[0], context: cluster.context))
        } catch {
            throw CommandFailure(code: .failure, message: "cannot reach the embedded Baton: \(error)")
        }
        console.out("Baton demo: \(Dev.shape(cluster.configuration)), everything in this process; data in \(data)/")
        let applied = try client.call("apply", .object([("files", .array([.object([("path", .string(file)), ("text", .string(text))])]))]))
        let version = applied["flows"]?.array?.first?["version"]?.integer ?? 1
        console.out("applied \(definition.qualifiedName) v\(version): \(definition.jobs.count) jobs from \(file)")
        let started = try client.call("start", .object([("flow", .string(definition.qualifiedName))]))
        let run = UInt64(started["run"]?.integer ?? 0)
        console.out("started run \(run) (entry moment \(started["moment"]?.integer ?? 0))\n")
        let final = try RunWatcher(client: client, console: console).watch(run)
        console.out("")
        for line in Formatting.runDetail(final) { console.out(line) }
        let succeeded = final["run"]?["state"]?.string == "succeeded"
        console.out("")
        let logs = cluster.configuration.pools.first.map { DataLayout.logs(in: $0.data) } ?? data
        console.out(succeeded ? "Every job succeeded. The jobs' output is kept in \(logs)/." : "The run did not succeed.")
        return succeeded ? .success : .failure
    }
}

extension Client {
    /// A client over an existing connection (the demo's inproc one).
    init(api: APIClient) { self.api = api }
}
