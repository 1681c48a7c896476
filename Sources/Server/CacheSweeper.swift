import Foundation
import Logging
import Metrics
import Storage

/// Applies the store's `CacheRetention`: one sweep at start-up (a lowered limit takes effect at
/// once), then one every `interval` until cancelled.
///
/// Metrics: `wharf_cache_evictions_total` and `wharf_cache_evicted_bytes_total` by reason
/// (`expired`, `size`), and `wharf_cache_stored_bytes` / `wharf_cache_stored_blobs`, what the
/// last sweep left.
struct CacheSweeper: Sendable {
    let store: ContentStore
    let interval: Duration
    let logger: Logger
    private let evictions: [CacheRetention.Reason: Counter]
    private let evictedBytes: [CacheRetention.Reason: Counter]
    private let storedBytes: Gauge
    private let storedBlobs: Gauge

    init(store: ContentStore, logger: Logger, factory: any MetricsFactory = MetricsSystem.factory) {
        self.store = store
        interval = store.retention?.interval ?? .seconds(60)
        self.logger = logger
        var evictions: [CacheRetention.Reason: Counter] = [:]
        var evictedBytes: [CacheRetention.Reason: Counter] = [:]
        for reason in CacheRetention.Reason.allCases {
            evictions[reason] = Counter(label: "wharf_cache_evictions_total", dimensions: [("reason", reason.rawValue)], factory: factory)
            evictedBytes[reason] = Counter(label: "wharf_cache_evicted_bytes_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.evictions = evictions
        self.evictedBytes = evictedBytes
        storedBytes = Gauge(label: "wharf_cache_stored_bytes", factory: factory)
        storedBlobs = Gauge(label: "wharf_cache_stored_blobs", factory: factory)
    }

    func run() async {
        repeat {
            await sweepOnce()
        } while (try? await Task.sleep(for: interval)) != nil
    }

    func sweepOnce() async {
        do {
            let sweep = try await store.sweepCache(now: Date().timeIntervalSince1970)
            for failure in sweep.failures.prefix(10) {
                logger.warning("cache sweep skipped a blob; the next sweep tries again", metadata: ["blob": "\(failure)"])
            }
            for (reason, tally) in sweep.removed {
                evictions[reason]?.increment(by: tally.count)
                evictedBytes[reason]?.increment(by: Int(tally.bytes))
            }
            storedBytes.record(sweep.kept.bytes)
            storedBlobs.record(sweep.kept.count)
            let removed = sweep.removedTotal
            guard removed.count > 0 else { return }
            logger.info("cache sweep removed blobs", metadata: [
                "removed.blobs": "\(removed.count)", "removed.bytes": "\(removed.bytes)",
                "expired.blobs": "\(sweep.removed[.expired]?.count ?? 0)", "size.blobs": "\(sweep.removed[.size]?.count ?? 0)",
                "kept.blobs": "\(sweep.kept.count)", "kept.bytes": "\(sweep.kept.bytes)",
            ])
        } catch is CancellationError {
            return
        } catch {
            logger.error("cache sweep failed; trying again next interval", metadata: ["error": "\(error)"])
        }
    }
}
