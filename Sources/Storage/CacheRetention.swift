import OCI

/// How long cached blobs (the ones a mirror or a CDN edge fetched, never pushed ones) are kept.
///
/// A sweep removes the blobs not used for `ttl`, then, while the cached bytes exceed `maxSize`,
/// the least recently used. "Used" is a GET of the blob, noted at most once per `useResolution`.
public struct CacheRetention: Sendable, Equatable {
    /// Unused this long → removed. Nil: no age limit.
    public var ttl: Duration?
    /// Cached bytes above this → the least recently used go. Nil: no size limit.
    public var maxSize: Int64?
    /// Time between two sweeps.
    public var interval: Duration = .seconds(60)

    public init(ttl: Duration? = nil, maxSize: Int64? = nil) {
        self.ttl = ttl
        self.maxSize = maxSize
    }

    public var isEnabled: Bool { ttl != nil || maxSize != nil }

    /// How finely a blob's last use is recorded: writing it on every GET would cost a file write
    /// per request, and a tenth of the TTL (at most a minute) cannot change what a sweep decides by much.
    public var useResolution: Duration {
        guard let ttl else { return .seconds(60) }
        return min(.seconds(60), ttl / 10)
    }

    /// Why a sweep removed a blob.
    public enum Reason: String, Sendable, CaseIterable {
        /// Not used for `ttl`.
        case expired
        /// The least recently used while the cache was over `maxSize`.
        case size
    }

    /// One cached blob as a sweep sees it.
    public struct Entry: Sendable, Equatable {
        public var digest: Digest
        /// Seconds since 1970 of the last recorded use (or of the fetch).
        public var lastUse: Double
        public var size: Int64

        public init(digest: Digest, lastUse: Double, size: Int64) {
            self.digest = digest
            self.lastUse = lastUse
            self.size = size
        }
    }

    /// The entries to remove at `now` (seconds since 1970), each with its reason: every expired
    /// one, then the least recently used until the rest fit `maxSize`.
    public func victims(of entries: [Entry], now: Double) -> [(entry: Entry, reason: Reason)] {
        var chosen: [(entry: Entry, reason: Reason)] = []
        var kept: [Entry] = []
        let maximumAge = ttl.map(Self.seconds)
        for entry in entries {
            if let maximumAge, now - entry.lastUse > maximumAge {
                chosen.append((entry, .expired))
            } else {
                kept.append(entry)
            }
        }
        guard let maxSize else { return chosen }
        var total = kept.reduce(Int64(0)) { $0 + $1.size }
        // Oldest first; the digest breaks ties so the order never depends on the listing.
        for entry in kept.sorted(by: { ($0.lastUse, $0.digest.description) < ($1.lastUse, $1.digest.description) }) {
            guard total > maxSize else { break }
            chosen.append((entry, .size))
            total -= entry.size
        }
        return chosen
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// What one sweep did.
public struct CacheSweep: Sendable, Equatable {
    public struct Tally: Sendable, Equatable {
        public var count = 0
        public var bytes: Int64 = 0

        public init(count: Int = 0, bytes: Int64 = 0) {
            self.count = count
            self.bytes = bytes
        }
    }

    /// Blobs and bytes removed, by reason.
    public var removed: [CacheRetention.Reason: Tally] = [:]
    /// Cached blobs and bytes left.
    public var kept = Tally()
    /// Blobs that could not be looked at or removed, with why; the next sweep tries again.
    public var failures: [String] = []

    public init() {}

    public var removedTotal: Tally {
        removed.values.reduce(into: Tally()) { total, tally in
            total.count += tally.count
            total.bytes += tally.bytes
        }
    }
}
