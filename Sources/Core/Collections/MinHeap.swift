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
    /// The elements, in no particular order.
    public var unordered: [Element] { elements }

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
        siftDown(from: 0)
        return top
    }

    /// Removes the elements that `shouldBeRemoved` says to, in O(n) for the n elements held.
    public mutating func removeAll(where shouldBeRemoved: (Element) -> Bool) {
        elements.removeAll(where: shouldBeRemoved)
        for parent in stride(from: elements.count / 2 - 1, through: 0, by: -1) { siftDown(from: parent) }
    }

    /// Moves the element at `start` down until neither child is smaller.
    private mutating func siftDown(from start: Int) {
        var parent = start
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
    }
}
