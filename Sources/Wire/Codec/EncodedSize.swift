/// The octets values take in a frame, counted without encoding them: what a sender needs to keep a
/// batch within the frame limit.
enum EncodedSize {
    /// A `strings` field.
    static func strings(_ values: [String]) -> Int {
        values.reduce(4) { $0 + 4 + $1.utf8.count }
    }

    /// A `hash` field.
    static func hash(_ values: [String: String]) -> Int {
        values.reduce(4) { $0 + 1 + $1.key.utf8.count + 4 + $1.value.utf8.count }
    }
}
