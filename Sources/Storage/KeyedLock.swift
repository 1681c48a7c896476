import Synchronization

/// Mutual exclusion per key, for async work: holders of different keys never wait on each other.
/// The store takes it per digest, so publishing a blob and a retention sweep removing it never
/// interleave.
final class KeyedLock<Key: Hashable & Sendable>: Sendable {
    /// Held keys, each with the tasks waiting for it in order.
    private let held = Mutex<[Key: [CheckedContinuation<Void, Never>]]>([:])

    func withLock<T>(_ key: Key, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: Key) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = held.withLock { held -> Bool in
                if held[key] == nil {
                    held[key] = []
                    return true
                }
                held[key]!.append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    private func release(_ key: Key) {
        let next = held.withLock { held -> CheckedContinuation<Void, Never>? in
            guard var waiting = held[key], !waiting.isEmpty else {
                held[key] = nil
                return nil
            }
            let next = waiting.removeFirst()
            held[key] = waiting
            return next
        }
        next?.resume()
    }
}
