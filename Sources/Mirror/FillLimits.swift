import Synchronization

/// Bytes the fills under way may hold in staging at once (`mirror.maxstagingbytes`). A fill
/// reserves its declared size when the upstream names it, or its bytes as they arrive when the
/// upstream names none; a reservation beyond the limit is refused, and the fill fails.
final class StagingBudget: Sendable {
    let limit: Int64
    private let inUse = Mutex<Int64>(0)

    init(limit: Int64) {
        self.limit = max(1, limit)
    }

    var bytesInUse: Int64 { inUse.withLock { $0 } }

    /// Takes `bytes` more; false (nothing taken) when that would pass the limit.
    func reserve(_ bytes: Int64) -> Bool {
        guard bytes > 0 else { return true }
        return inUse.withLock { used in
            let (sum, overflow) = used.addingReportingOverflow(bytes)
            guard !overflow, sum <= limit else { return false }
            used = sum
            return true
        }
    }

    func release(_ bytes: Int64) {
        guard bytes > 0 else { return }
        inUse.withLock { $0 = max(0, $0 - bytes) }
    }
}

/// At most `limit` holders per key at once (per upstream registry), the rest waiting in order.
/// A key's entry exists only while it has holders or waiters, so the table stays as small as the
/// fills under way.
final class KeyedSlots<Key: Hashable & Sendable>: Sendable {
    private struct Entry {
        var held = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let limit: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(_ limit: Int) {
        self.limit = max(1, limit)
    }

    func acquire(_ key: Key) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = entries.withLock { entries -> Bool in
                var entry = entries[key] ?? Entry()
                defer { entries[key] = entry }
                if entry.held < limit {
                    entry.held += 1
                    return true
                }
                entry.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release(_ key: Key) {
        let next = entries.withLock { entries -> CheckedContinuation<Void, Never>? in
            guard var entry = entries[key] else { return nil }
            if entry.waiting.isEmpty {
                entry.held -= 1
                entries[key] = entry.held > 0 ? entry : nil
                return nil
            }
            let next = entry.waiting.removeFirst()
            entries[key] = entry
            return next
        }
        next?.resume()
    }

    /// Holders of `key` now (tests).
    func held(_ key: Key) -> Int { entries.withLock { $0[key]?.held ?? 0 } }
}
