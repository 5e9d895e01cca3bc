/// How a shard shares its workers with one product: its weight in the fair share, and the caps on
/// its concurrency and its rate of dispatch. Zero in a cap or a rate means none.
public struct ProductPolicy: WireValue, Hashable {
    /// The product.
    public var product: String
    /// Its weight: a product of weight 2 gets twice the worker time of one of weight 1 when both
    /// have work waiting. From 1 to 10,000.
    public var weight: UInt32
    /// The most of its tasks that may run at once in the shard; 0 for no cap.
    public var cap: UInt32
    /// The most of its tasks handed out per hour, on average; 0 for no limit.
    public var rate: UInt32
    /// How many tasks beyond the average rate may go at once after a quiet spell; 0 for one second's
    /// worth of the rate (at least 1).
    public var burst: UInt32

    public init(product: String, weight: UInt32 = 1, cap: UInt32 = 0, rate: UInt32 = 0, burst: UInt32 = 0) {
        self.product = product
        self.weight = weight
        self.cap = cap
        self.rate = rate
        self.burst = burst
    }

    /// The weights a policy may give.
    public static let weights: ClosedRange<UInt32> = 1...10_000

    public static let minimumSize = 1 + 4 + 4 + 4 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.string(product)
        writer.number4(weight)
        writer.number4(cap)
        writer.number4(rate)
        writer.number4(burst)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        product = try reader.string("product")
        weight = try reader.number4("weight")
        cap = try reader.number4("cap")
        rate = try reader.number4("rate")
        burst = try reader.number4("burst")
        if !product.isEmpty && !Self.weights.contains(weight) { throw .invalidValue(field: "weight", value: UInt64(weight)) }
    }
}

/// A worker's offer to take one handler's tasks as sets: up to `limit` tasks of one job type, claimed together and
/// run by one call.
public struct SetOffer: WireValue, Hashable {
    /// The handler's name.
    public var handler: String
    /// The most tasks in one set, at least 2.
    public var limit: UInt32

    public init(handler: String, limit: UInt32) {
        self.handler = handler
        self.limit = limit
    }

    public static let minimumSize = 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.string(handler)
        writer.number4(limit)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        handler = try reader.string("handler")
        limit = try reader.number4("limit")
        if limit < 2 { throw .invalidValue(field: "limit", value: UInt64(limit)) }
    }
}
