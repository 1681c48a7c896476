import Foundation

/// Bearer tokens per registry and scope, each kept until shortly before it expires.
///
/// A value type with the clock passed in, so expiry is tested without waiting.
public struct TokenCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var registry: String
        /// Space-separated scopes, as requested.
        public var scope: String
        public init(registry: String, scope: String) {
            self.registry = registry
            self.scope = scope
        }
    }

    private struct Entry: Sendable {
        var token: String
        var expiresAt: Date
    }

    /// Lifetime when the token server sends no `expires_in` (the token spec's default).
    public static let defaultLifetime: TimeInterval = 60
    /// A token is not handed out in its last `refreshMargin` seconds (or last sixth of a short life).
    public static let refreshMargin: TimeInterval = 10

    private var entries: [Key: Entry] = [:]
    /// The most tokens kept: one per registry and scope, and a client chooses the scopes.
    public let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = max(1, capacity) }

    public var count: Int { entries.count }

    /// A token still valid at `now` (with the margin), or nil.
    public func token(for key: Key, now: Date) -> String? {
        guard let entry = entries[key], now < entry.expiresAt else { return nil }
        return entry.token
    }

    /// Stores `token`. Expiry = `issued_at` (not later than `now`, against a token server clock that
    /// runs ahead) + `expires_in` (default 60 s), less the refresh margin.
    public mutating func store(_ token: String, for key: Key, issuedAt: Date?, expiresIn: Int?, now: Date) {
        let lifetime = expiresIn.flatMap { $0 > 0 ? TimeInterval($0) : nil } ?? Self.defaultLifetime
        let start = min(issuedAt ?? now, now)
        let margin = min(Self.refreshMargin, lifetime / 6)
        if entries[key] == nil, entries.count >= capacity {
            purge(now: now)
            // Still full of live tokens: the one expiring first goes.
            if entries.count >= capacity, let soonest = entries.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key {
                entries[soonest] = nil
            }
        }
        entries[key] = Entry(token: token, expiresAt: start + lifetime - margin)
    }

    public mutating func invalidate(_ key: Key) { entries[key] = nil }

    /// Drops every expired entry.
    public mutating func purge(now: Date) { entries = entries.filter { now < $0.value.expiresAt } }
}
