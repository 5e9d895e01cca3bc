public import Wire

/// A page of a listing: at most `limit` entries, those after the cursor `after` (a name, in name order).
struct Page: Sendable {
    /// The most entries a page may hold, and how many it holds when the request says nothing.
    static let maximum = 10_000
    static let defaultLimit = 1000

    var limit: Int
    var after: String?

    init(_ fields: ManagementAPI.Fields, method: String) throws(APIRefusal) {
        limit = try Self.limit(fields, method: method, default: Self.defaultLimit)
        after = fields["after"]?.string
    }

    /// A request's `limit`: 1 to ``maximum``.
    static func limit(_ fields: ManagementAPI.Fields, method: String, default value: Int) throws(APIRefusal) -> Int {
        guard let given = fields["limit"] else { return value }
        guard let limit = given.integer, (1...Int64(maximum)).contains(limit) else {
            throw APIRefusal(.badRequest, "\(method): \"limit\" takes a whole number from 1 to \(maximum), not \(given.rendered())")
        }
        return Int(limit)
    }
}

/// `status`: a run, and the page of its jobs to show with it.
struct StatusRequest: Sendable {
    var run: UInt64
    /// The position, in the flow's order, of the first job to show.
    var from: UInt32
    /// At most this many jobs; 0 for the run alone.
    var limit: UInt32

    init(run: UInt64, from: UInt32 = 0, limit: UInt32 = RunQuery.pageLimit) {
        self.run = run
        self.from = from
        self.limit = limit
    }

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        guard let run = fields["run"]?.integer, run > 0 else { throw APIRefusal(.badRequest, "status needs \"run\": a run ID") }
        self.run = UInt64(run)
        from = 0
        if let given = fields["from"] {
            guard let position = given.integer, (0...Int64(UInt32.max)).contains(position) else {
                throw APIRefusal(.badRequest, "status: \"from\" takes a job's position, a whole number from 0, not \(given.rendered())")
            }
            from = UInt32(position)
        }
        limit = RunQuery.pageLimit
        if let given = fields["limit"] {
            guard let count = given.integer, (0...Int64(RunQuery.pageLimit)).contains(count) else {
                throw APIRefusal(.badRequest, "status: \"limit\" takes a whole number from 0 to \(RunQuery.pageLimit), not \(given.rendered())")
            }
            limit = UInt32(count)
        }
    }
}

/// Names kept in order for paging, sorted again only when a name was added since (products and flows are
/// added far more rarely than they are listed).
struct SortedNames: Sendable {
    private var sorted: [String] = []
    private var stale = true

    /// Notes that `names` gained a name.
    mutating func added() { stale = true }

    /// The page of `names` after `after`, at most `limit` of them, and the cursor of the next page if any.
    mutating func page(of names: some Collection<String>, after: String?, limit: Int) -> (names: ArraySlice<String>, next: String?) {
        if stale {
            sorted = names.sorted()
            stale = false
        }
        var low = 0
        var high = sorted.count
        if let after {
            // The first name after the cursor.
            while low < high {
                let middle = (low + high) / 2
                if sorted[middle] <= after { low = middle + 1 } else { high = middle }
            }
        }
        let end = min(low + limit, sorted.count)
        let page = sorted[low..<end]
        return (page, end < sorted.count ? page.last : nil)
    }
}

/// `runs`: which runs, newest first, read from the store (every run it holds, not only those in memory).
public struct RunListing: Sendable, Equatable {
    public var product: String?
    public var flow: String?
    public var state: RunState?
    /// Runs started at or after `since` and before `until`, in milliseconds since the epoch.
    public var since: Int64?
    public var until: Int64?
    /// The cursor: runs older than this one (a run ID), for the next page.
    public var before: UInt64?
    public var limit: Int

    public init(product: String? = nil, flow: String? = nil, state: RunState? = nil, since: Int64? = nil, until: Int64? = nil, before: UInt64? = nil, limit: Int) {
        self.product = product
        self.flow = flow
        self.state = state
        self.since = since
        self.until = until
        self.before = before
        self.limit = limit
    }

    init(_ fields: ManagementAPI.Fields) throws(APIRefusal) {
        limit = try Page.limit(fields, method: "runs", default: 20)
        product = fields["product"]?.string
        if let given = fields["flow"] {
            let parts = given.string?.split(separator: "/", omittingEmptySubsequences: false) ?? []
            guard parts.count == 2 else { throw APIRefusal(.badRequest, "runs: \"flow\" is PRODUCT/FLOW, not \(given.rendered())") }
            product = product ?? String(parts[0])
            guard product == String(parts[0]) else {
                throw APIRefusal(.badRequest, "runs: \"flow\" \(given.rendered()) is not of \"product\" \"\(product ?? "")\"")
            }
            flow = String(parts[1])
        }
        if let given = fields["state"] {
            guard let name = given.string, let state = RunState.named(name) else {
                let names = RunState.allCases.map(\.name).joined(separator: ", ")
                throw APIRefusal(.badRequest, "runs: \"state\" is one of \(names), not \(given.rendered())")
            }
            self.state = state
        }
        for (field, value) in [("since", fields["since"]), ("until", fields["until"]), ("before", fields["before"])] {
            guard let value else { continue }
            guard let number = value.integer, number >= 0 else {
                throw APIRefusal(.badRequest, "runs: \"\(field)\" takes a whole number, not \(value.rendered())")
            }
            switch field {
            case "since": since = number
            case "until": until = number
            default: before = UInt64(number)
            }
        }
    }
}

/// A `runs` request, answered by the runtime from the store after the turn's commit.
public struct RunListQuery: Sendable {
    public var peer: Peer
    public var request: UInt64
    public var listing: RunListing
}

extension RunState {
    /// The state named `name` (`partly-failed`), as the API spells it.
    static func named(_ name: String) -> RunState? { allCases.first { $0.name == name } }
}
