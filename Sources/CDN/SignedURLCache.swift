import Foundation

/// Recently signed URLs, reused for a short window so that hot blobs cost one RSA signature
/// per window instead of one per request. A reused URL expires up to `window` earlier than
/// a fresh one would; keep the window a small part of the signing duration.
///
/// Bounded: at `capacity` entries, stale ones are dropped, and if none are stale, all are.
final class SignedURLCache: @unchecked Sendable {
    // @unchecked: every access to `entries` holds `lock`.
    private struct Entry {
        var url: String
        var signedAt: Date
    }

    let window: TimeInterval
    let capacity: Int
    private var entries: [String: Entry] = [:]
    private let lock = NSLock()

    init(window: Duration, capacity: Int = 10_000) {
        self.window = window.timeInterval
        self.capacity = capacity
    }

    /// The cached URL for `key` if signed within the window before `now`, else `sign()`'s, stored.
    func url(for key: String, now: Date, sign: () throws(CDNError) -> String) throws(CDNError) -> String {
        if let url = lookup(key, now: now) { return url }
        let url = try sign()
        store(key, Entry(url: url, signedAt: now))
        return url
    }

    private func lookup(_ key: String, now: Date) -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[key] else { return nil }
        let age = now.timeIntervalSince(entry.signedAt)
        return age >= 0 && age < window ? entry.url : nil
    }

    private func store(_ key: String, _ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity, entries[key] == nil {
            entries = entries.filter { entry.signedAt.timeIntervalSince($0.value.signedAt) < window }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[key] = entry
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
