import Foundation
import Glibc
import Synchronization
import ZeroMQ

/// What a key may do in a cluster (`docs/security.md`).
public enum KeyRole: String, Sendable, CaseIterable, Comparable {
    // The services, each known by its key's name: `management`, `orchestrator`, `shard-N`, `pool-NAME`, `timer`.
    case management, orchestrator, shard, worker, timer
    // The people and tools that use the API, by what they may ask.
    case viewer, `operator`, admin

    /// The role a service's key has by its name, nil for any other name.
    public static func ofService(named name: String) -> KeyRole? {
        switch name {
        case "management": .management
        case "orchestrator": .orchestrator
        case "timer": .timer
        case _ where name.hasPrefix("shard-") && UInt32(name.dropFirst(6)) != nil: .shard
        case _ where name.hasPrefix("pool-") && name.count > 5: .worker
        default: nil
        }
    }

    /// What is wrong with `name` if it begins as a shard's key and is not one: the shard process of ID N
    /// reads `shard-N.key`, N from 1 to 65535 as the cluster file writes it, and sockets admit shards by
    /// role, so no other key may take such a name. Checked when a key is made; a folder's files are read
    /// as they were made, so that a reload never refuses a folder for a name it took before.
    public static func misnamedShard(_ name: String) -> String? {
        guard name.hasPrefix("shard-") else { return nil }
        let number = name.dropFirst(6)
        if let id = UInt16(number), id >= 1, String(id) == number { return nil }
        return "a shard's key is named shard-N, N its ID from 1 to 65535 as the cluster file gives it, not \"\(name)\""
    }

    /// Whether it is the role of a person or tool using the API.
    public var isAPIRole: Bool { self == .viewer || self == .operator || self == .admin }

    /// What is wrong with a key of this name having `role`, if anything: a service's key is named for its
    /// service and has its role, and a service's role goes with no other name, since sockets admit
    /// services by role.
    static func mismatch(name: String, role: KeyRole) -> String? {
        if let expected = ofService(named: name), expected != role {
            return "a key named \"\(name)\" is the \(expected.rawValue)'s; it cannot have the role \(role.rawValue)"
        }
        if !role.isAPIRole, ofService(named: name) == nil {
            return "the role \(role.rawValue) is a service's: its key is named management, orchestrator, shard-N, pool-NAME or timer, not \"\(name)\""
        }
        return nil
    }

    public static func < (lhs: KeyRole, rhs: KeyRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Who a key is: its name (`shard-2`, `pool-general`, `alice`) and its role.
public struct KeyIdentity: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var role: KeyRole
    /// The public key, 40 Z85 characters.
    public var publicKey: String

    public init(name: String, role: KeyRole, publicKey: String) {
        self.name = name
        self.role = role
        self.publicKey = publicKey
    }

    /// The first characters of the public key, to name a key in logs without its whole text.
    public var fingerprint: String { KeyIdentity.fingerprint(of: publicKey) }

    public static func fingerprint(of publicKey: String) -> String { String(publicKey.prefix(12)) }

    public var description: String { "\(name) (\(role.rawValue), \(fingerprint))" }
}

/// A key pair as a process uses it: its identity and its secret.
public struct KeyPair: Sendable {
    public var identity: KeyIdentity
    /// The secret key, 40 Z85 characters; never logged.
    public var secretKey: String

    public init(identity: KeyIdentity, secretKey: String) {
        self.identity = identity
        self.secretKey = secretKey
    }
}

/// Key files: `NAME.key` holds a public key and may go anywhere; `NAME.secret` holds the pair, is created
/// readable by its owner only, and stays on the machine that uses it.
///
/// ```
/// # Baton public key
/// name = shard-1
/// role = shard
/// public-key = rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
/// ```
public enum KeyFiles {
    /// A key file that cannot be used, with what is wrong.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var file: String
        public var message: String
        public var description: String { "\(file): \(message)" }
    }

    /// Creates `name`'s key pair in `folder` (made if missing); refuses to overwrite either file.
    @discardableResult
    public static func create(name: String, role: KeyRole, in folder: String) throws -> KeyPair {
        guard isValidName(name) else {
            throw Problem(file: folder, message: "\"\(name)\" is not a key name (letters, digits, '.', '_' and '-', up to 64)")
        }
        if let problem = KeyRole.misnamedShard(name) ?? KeyRole.mismatch(name: name, role: role) { throw Problem(file: folder, message: problem) }
        let publicPath = "\(folder)/\(name).key", secretPath = "\(folder)/\(name).secret"
        for path in [publicPath, secretPath] where FileManager.default.fileExists(atPath: path) {
            throw Problem(file: path, message: "exists already; remove it first to replace the key")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw Problem(file: folder, message: "cannot create the folder: \(error.localizedDescription)")
        }
        let keys = try Curve.keyPair()
        let pair = KeyPair(identity: KeyIdentity(name: name, role: role, publicKey: keys.publicKey), secretKey: keys.secretKey)
        let header = "name = \(name)\nrole = \(role.rawValue)\npublic-key = \(keys.publicKey)\n"
        // The secret first, created 0600 from the start: it is never readable by others, even for a moment.
        try write("# Baton secret key: keep it on the machine that uses it.\n" + header + "secret-key = \(keys.secretKey)\n", to: secretPath, mode: 0o600)
        try write("# Baton public key: give it to every process of the cluster.\n" + header, to: publicPath, mode: 0o644)
        return pair
    }

    /// Reads a public key file.
    public static func readPublic(_ path: String) throws -> KeyIdentity {
        let fields = try read(path)
        return try identity(fields, path)
    }

    /// Reads a secret key file, which must be a regular file of this process's user, readable by no one
    /// else; checked on the file opened (not followed if a link), so it cannot change between check and read.
    public static func readSecret(_ path: String) throws -> KeyPair {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Problem(file: path, message: errno == ELOOP ? "is a symbolic link; give the file itself" : "cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { throw Problem(file: path, message: "is not a regular file") }
        guard status.st_mode & 0o077 == 0 else {
            // `baton keys new` names the public half NAME.key: given by mistake, it is the likelier story.
            let publicHalf = path.hasSuffix(".key") ? " (if it is a public key, give its secret, \(path.dropLast(4)).secret)" : ""
            throw Problem(file: path, message: "is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it\(publicHalf)")
        }
        guard status.st_uid == geteuid() else {
            throw Problem(file: path, message: "belongs to user \(status.st_uid), not to this process's (\(geteuid())); chown it")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[..<count]
            guard bytes.count <= 65_536 else { throw Problem(file: path, message: "is too large to be a key file") }
        }
        let fields = try parse(String(decoding: bytes, as: UTF8.self), path)
        let identity = try identity(fields, path)
        guard let secret = fields["secret-key"], Curve.publicKey(ofSecret: secret) == identity.publicKey else {
            throw Problem(file: path, message: "its secret-key is missing, or is not the secret of its public-key")
        }
        return KeyPair(identity: identity, secretKey: secret)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2E || byte == 0x5F || byte == 0x2D
        } && name.first != "."
    }

    private static func identity(_ fields: [String: String], _ path: String) throws -> KeyIdentity {
        guard let name = fields["name"], isValidName(name) else { throw Problem(file: path, message: "no valid name") }
        guard let roleName = fields["role"], let role = KeyRole(rawValue: roleName) else {
            let roles = KeyRole.allCases.map(\.rawValue).joined(separator: ", ")
            throw Problem(file: path, message: "role \"\(fields["role"] ?? "")\" is none of \(roles)")
        }
        if let problem = KeyRole.mismatch(name: name, role: role) { throw Problem(file: path, message: problem) }
        guard let key = fields["public-key"], Curve.isKey(key) else { throw Problem(file: path, message: "no valid public-key (40 Z85 characters)") }
        return KeyIdentity(name: name, role: role, publicKey: key)
    }

    private static func read(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Problem(file: path, message: "cannot be read") }
        return try parse(text, path)
    }

    private static func parse(_ text: String, _ path: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw Problem(file: "\(path):\(number + 1)", message: "expected NAME = VALUE")
            }
            fields[trimmed[..<equals].trimmingCharacters(in: .whitespaces)] = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    private static func write(_ text: String, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Problem(file: path, message: "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Problem(file: path, message: "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}

/// The public keys a process trusts: every `*.key` file of a folder, read again on ``reload()`` (SIGHUP,
/// or `baton keys reload`), so that a key added or removed takes effect without a restart.
public final class KeyRing: Sendable {
    /// The folder it reads.
    public let folder: String
    private let keys = Mutex<[String: KeyIdentity]>([:])
    private let removals = Atomic<Int>(0)

    /// How many reloads have removed a key so far: a publisher drops its subscribers when it grows.
    public var revocations: Int { removals.load(ordering: .acquiring) }

    /// Reads the folder's public keys; throws if a key file is not valid, naming it.
    public init(folder: String) throws {
        self.folder = folder
        _ = try reload()
    }

    /// Reads the folder again; returns the keys added and removed. On an invalid file it throws and keeps
    /// the keys it had.
    @discardableResult
    public func reload() throws -> (added: [KeyIdentity], removed: [KeyIdentity]) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            // Not an empty ring: that would refuse everyone at the next reload.
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder)
            let why = !exists ? "no such folder" : !isFolder.boolValue ? "not a folder" : "cannot be read (\(error.localizedDescription))"
            throw KeyFiles.Problem(file: folder, message: "\(why): the key folder holds NAME.key files (`baton keys new NAME --dir \(folder)` makes one)")
        }
        var read: [String: KeyIdentity] = [:]
        var byName: [String: String] = [:]
        for file in names.sorted() where file.hasSuffix(".key") {
            let identity = try KeyFiles.readPublic("\(folder)/\(file)")
            if let other = byName[identity.name] {
                throw KeyFiles.Problem(file: "\(folder)/\(file)", message: "names \(identity.name), as \(other) does")
            }
            byName[identity.name] = file
            read[identity.publicKey] = identity
        }
        let changes = keys.withLock { current in
            defer { current = read }
            return (read.values.filter { current[$0.publicKey] == nil }.sorted { $0.name < $1.name },
                    current.values.filter { read[$0.publicKey] == nil }.sorted { $0.name < $1.name })
        }
        if !changes.1.isEmpty { removals.add(1, ordering: .releasing) }
        return changes
    }

    /// Who holds `publicKey`, if the ring trusts it.
    public func identity(ofKey publicKey: String) -> KeyIdentity? { keys.withLock { $0[publicKey] } }

    /// The public key named `name`.
    public func key(named name: String) -> KeyIdentity? { keys.withLock { $0.values.first { $0.name == name } } }

    /// Every key, by name.
    public var all: [KeyIdentity] { keys.withLock { $0.values.sorted { $0.name < $1.name } } }
}
