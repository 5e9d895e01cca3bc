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
    /// 1: its runs' priorities count across products, before the fair shares; 0: only within the product.
    public var priorityOverFairness: UInt8
    /// Weights of fairness keys within the product; a key not listed has weight 1.
    public var keyWeights: [KeyWeight]

    public init(
        product: String, weight: UInt32 = 1, cap: UInt32 = 0, rate: UInt32 = 0, burst: UInt32 = 0,
        priorityOverFairness: UInt8 = 0, keyWeights: [KeyWeight] = []
    ) {
        self.product = product
        self.weight = weight
        self.cap = cap
        self.rate = rate
        self.burst = burst
        self.priorityOverFairness = priorityOverFairness
        self.keyWeights = keyWeights
    }

    /// The most fairness keys a policy may weigh.
    public static let keyWeightLimit = 10_000

    /// The weight of fairness key `key`: as listed, else 1.
    public func weight(ofKey key: String) -> UInt32 { keyWeights.first { $0.key == key }?.weight ?? 1 }

    /// The weights a policy may give.
    public static let weights: ClosedRange<UInt32> = 1...10_000

    public static let minimumSize = 1 + 4 + 4 + 4 + 4 + 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.string(product)
        writer.number4(weight)
        writer.number4(cap)
        writer.number4(rate)
        writer.number4(burst)
        writer.number1(priorityOverFairness)
        writer.values(keyWeights)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        product = try reader.string("product")
        weight = try reader.number4("weight")
        cap = try reader.number4("cap")
        rate = try reader.number4("rate")
        burst = try reader.number4("burst")
        priorityOverFairness = try reader.number1("priority-over-fairness")
        keyWeights = try reader.values("key-weights", limit: Self.keyWeightLimit)
        if priorityOverFairness > 1 { throw .invalidValue(field: "priority-over-fairness", value: UInt64(priorityOverFairness)) }
        if !product.isEmpty && !Self.weights.contains(weight) { throw .invalidValue(field: "weight", value: UInt64(weight)) }
    }
}

/// A worker's offer to take one handler's tasks as sets: up to `limit` tasks of one job type, claimed together and
/// run by one call.
public struct SetOffer: WireValue, Hashable {
    /// The handler's name.
    public var handler: String
    /// The most tasks in one set, 2 to ``Limits/setSize``.
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
        if limit > Limits.setSize { throw .oversized(field: "limit", length: Int(limit), limit: Limits.setSize) }
    }
}

/// The weight of one fairness key within a product.
public struct KeyWeight: WireValue, Hashable {
    /// The key.
    public var key: String
    /// Its weight among the product's keys, 1 to 10,000.
    public var weight: UInt32

    public init(key: String, weight: UInt32) {
        self.key = key
        self.weight = weight
    }

    public static let minimumSize = 1 + 4

    public func encode(to writer: inout FrameWriter) {
        writer.string(key)
        writer.number4(weight)
    }

    public init(from reader: inout FrameReader) throws(DecodingError) {
        key = try reader.string("key")
        weight = try reader.number4("weight")
        if !ProductPolicy.weights.contains(weight) { throw .invalidValue(field: "weight", value: UInt64(weight)) }
    }
}
