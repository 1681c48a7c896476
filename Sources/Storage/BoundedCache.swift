import Synchronization

/// A thread-safe cache bounded by total cost, evicting the oldest insertions first.
///
/// Used for immutable content (manifests by digest) and for lookups the store itself
/// keeps coherent (tags, links), so eviction order matters little; FIFO keeps it O(1).
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var entries: [Key: (value: Value, cost: Int)] = [:]
        var order: [Key] = []
        var head = 0
        var totalCost = 0
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let costOf: (@Sendable (Key, Value) -> Int)?

    /// - Parameters:
    ///   - capacity: the most total cost kept (bytes, or an entry count with cost 1).
    ///   - cost: an entry's cost when `insert` names none (e.g. its estimated bytes, for keys
    ///     whose size a client chooses); nil: 1.
    public init(capacity: Int, cost: (@Sendable (Key, Value) -> Int)? = nil) {
        self.capacity = capacity
        self.costOf = cost
    }

    public subscript(key: Key) -> Value? {
        state.withLock { $0.entries[key]?.value }
    }

    public func insert(_ value: Value, for key: Key, cost: Int? = nil) {
        let cost = max(1, cost ?? costOf?(key, value) ?? 1)
        guard cost <= capacity else { return }
        state.withLock { state in
            if let old = state.entries.updateValue((value, cost), forKey: key) {
                state.totalCost -= old.cost
            } else {
                state.order.append(key)
            }
            state.totalCost += cost
            while state.totalCost > capacity, state.head < state.order.count {
                let victim = state.order[state.head]
                state.head += 1
                if let removed = state.entries.removeValue(forKey: victim) { state.totalCost -= removed.cost }
            }
            // Compact the order list once its dead prefix dominates, or once removed and
            // re-inserted keys left it much longer than the entries (it must stay bounded too).
            if state.head > 1024 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            } else if state.order.count - state.head > 2 * state.entries.count + 1024 {
                var seen = Set<Key>()
                state.order = state.order[state.head...].reversed().filter { state.entries[$0] != nil && seen.insert($0).inserted }.reversed()
                state.head = 0
            }
        }
    }

    public func remove(_ key: Key) {
        state.withLock { state in
            if let removed = state.entries.removeValue(forKey: key) { state.totalCost -= removed.cost }
        }
    }

    /// Removes every entry whose key matches.
    public func removeAll(where shouldRemove: (Key) -> Bool) {
        state.withLock { state in
            for key in state.entries.keys where shouldRemove(key) {
                if let removed = state.entries.removeValue(forKey: key) { state.totalCost -= removed.cost }
            }
        }
    }
}
