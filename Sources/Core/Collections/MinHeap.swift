/// A binary min-heap: the smallest element first, in O(log n) per insertion and removal.
public struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    private var elements: [Element] = []

    public init() {}

    /// The number of elements.
    public var count: Int { elements.count }
    /// Whether the heap is empty.
    public var isEmpty: Bool { elements.isEmpty }
    /// The smallest element, if any.
    public var min: Element? { elements.first }

    /// Adds an element.
    public mutating func insert(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child] < elements[parent] else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the smallest element.
    public mutating func popMin() -> Element? {
        guard !elements.isEmpty else { return nil }
        if elements.count == 1 { return elements.removeLast() }
        let top = elements[0]
        elements[0] = elements.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < elements.count && elements[left] < elements[smallest] { smallest = left }
            if right < elements.count && elements[right] < elements[smallest] { smallest = right }
            if smallest == parent { break }
            elements.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
