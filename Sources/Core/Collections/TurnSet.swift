/// A set of the service's own IDs that a turn fills and the next empties: the jobs and tasks a shard's
/// turn changed, say. Its members are kept in the order first inserted (a removal moves the last member
/// into the hole), found through ``IntegerPlaces``.
///
/// A shard's turn of dozens to hundreds of jobs marks each in four or five such sets. As `Set`s, each
/// hashing every ID with the standard library's seeded SipHash and growing through every size each
/// turn, they took about 3% of a loaded shard's samples (`Hasher`, `Set.insert` and `Set.remove`); the
/// IDs are the service's own, given in sequence, so a multiplication spreads them as well, and the table
/// keeps its size between turns.
public struct TurnSet<Element: PlaceKey>: Sendable {
    private var members: ContiguousArray<Element> = []
    private var places = IntegerPlaces<Element>()

    public init() {}

    /// An empty set with room for `capacity` members.
    public init(capacity: Int) {
        guard capacity > 0 else { return }
        members.reserveCapacity(capacity)
        places.reserveCapacity(capacity)
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    public func contains(_ member: Element) -> Bool { places[member] != nil }

    /// Where `member` is among the members, if it is one.
    public func index(of member: Element) -> Int? { places[member].map(Int.init) }

    /// Adds `member`; true if it was not there.
    @discardableResult
    public mutating func insert(_ member: Element) -> Bool {
        guard places[member] == nil else { return false }
        places[member] = Int32(members.count)
        members.append(member)
        return true
    }

    /// Removes `member`; true if it was there.
    @discardableResult
    public mutating func remove(_ member: Element) -> Bool {
        guard let place = places[member].map(Int.init) else { return false }
        places[member] = nil
        let last = members.removeLast()
        if place < members.count {
            members[place] = last
            places[last] = Int32(place)
        }
        return true
    }

    /// Empties it for the next turn, keeping the room of a turn of ordinary size: a table for more than
    /// `keptCapacity` members (a turn of a large hand-over, say) is let go, or every later turn would
    /// clear its empty slots.
    public mutating func clearForNextTurn(keptCapacity: Int = 4096) {
        places.removeAll(keepingCapacity: keptCapacity)
        if members.capacity <= keptCapacity { members.removeAll(keepingCapacity: true) } else { members = [] }
    }
}

extension TurnSet: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { members.count }
    public subscript(position: Int) -> Element { members[position] }
}

extension TurnSet: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        for element in elements { insert(element) }
    }
}

extension TurnSet: Equatable {
    /// The same members, in whatever order.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.count == rhs.count && lhs.allSatisfy(rhs.contains)
    }
}
