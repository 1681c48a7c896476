import OCI

/// The blobs the store keeps as a cache (fetched by a mirror fill or a CDN edge; pushed blobs are
/// never among them), and their removal under a `CacheRetention`.
///
/// Each cached blob has an empty marker file `_wharf/cache/<algorithm>/<encoded>` whose
/// modification time is the blob's last recorded use: the state survives restarts, needs no
/// index to keep consistent, and a sweep reads it with one `stat` per blob. Removing a blob
/// leaves its repository links: the next GET finds the link but no blob and fetches it again.
extension ContentStore {
    /// Outside Distribution's tree, like the staging files.
    public static let cacheDirectory = StoragePath(["_wharf", "cache"])

    static func cacheMarker(_ digest: Digest) -> StoragePath {
        cacheDirectory.appending(digest.algorithm, digest.encoded)
    }

    /// Records that `digest` was fetched into the store as a cache, used now.
    func markCached(_ digest: Digest) async throws {
        try await driver.putContent(Self.cacheMarker(digest), [])
        lastNotedUse.insert(ContinuousClock.now, for: digest)
    }

    /// Records a GET of `digest`, at most once per `retention.useResolution`; nothing for a
    /// store without retention, or for a blob that is not cached (a pushed one).
    public func noteUse(_ digest: Digest) async {
        guard let retention, retention.isEnabled else { return }
        let now = ContinuousClock.now
        if let last = lastNotedUse[digest], now - last < retention.useResolution { return }
        lastNotedUse.insert(now, for: digest)
        let marker = Self.cacheMarker(digest)
        // A failure only makes the blob look older than it is: it may be fetched again.
        guard (try? await driver.stat(marker)) != nil else { return }
        try? await driver.putContent(marker, [])
    }

    /// A blob a repository now holds by push or mount: no longer the cache's to remove.
    public func markPushed(_ digest: Digest) async throws {
        try await blobLocks.withLock(digest) { try await forgetCached(digest) }
    }

    /// Drops the marker; the caller holds the digest's lock.
    func forgetCached(_ digest: Digest) async throws {
        lastNotedUse.remove(digest)
        try await driver.delete(Self.cacheMarker(digest))
    }

    /// Removes what the store's retention says must go, as of `now` (seconds since 1970).
    /// A blob that cannot be looked at or removed is skipped (and logged by the caller through
    /// `failures`), so one bad entry never stops the cache from being kept in bounds.
    public func sweepCache(now: Double) async throws -> CacheSweep {
        guard let retention, retention.isEnabled else { return CacheSweep() }
        var sweep = CacheSweep()
        var entries: [CacheRetention.Entry] = []
        var looked = 0
        for algorithm in try await driver.list(Self.cacheDirectory) {
            for encoded in try await driver.list(Self.cacheDirectory.appending(algorithm)) {
                looked += 1
                if looked % 256 == 0 {
                    // Thousands of stats: let other work (and a shutdown) in.
                    try Task.checkCancellation()
                    await Task.yield()
                }
                guard let digest = Digest("\(algorithm):\(encoded)") else { continue }
                do {
                    if let entry = try await cacheEntry(digest, now: now) { entries.append(entry) }
                } catch {
                    sweep.failures.append("\(digest): \(error)")
                }
            }
        }
        var removed = Set<Digest>()
        for (entry, reason) in retention.victims(of: entries, now: now) {
            try Task.checkCancellation()
            do {
                guard try await removeCached(entry) else { continue }
            } catch {
                sweep.failures.append("\(entry.digest): \(error)")
                continue
            }
            removed.insert(entry.digest)
            sweep.removed[reason, default: CacheSweep.Tally()].count += 1
            sweep.removed[reason, default: CacheSweep.Tally()].bytes += entry.size
        }
        for entry in entries where !removed.contains(entry.digest) {
            sweep.kept.count += 1
            sweep.kept.bytes += entry.size
        }
        return sweep
    }

    /// A cached blob's last use and size; nil (and its marker dropped) when the blob is gone.
    private func cacheEntry(_ digest: Digest, now: Double) async throws -> CacheRetention.Entry? {
        guard let marker = try await driver.stat(Self.cacheMarker(digest)) else { return nil }
        if let blob = try await driver.stat(StorageLayout.blobData(digest)) {
            return CacheRetention.Entry(digest: digest, lastUse: marker.modifiedAt, size: blob.size)
        }
        // No blob: removed by hand, or a commit is between its marker and its rename (the lock
        // waits that out).
        try await blobLocks.withLock(digest) {
            if try await driver.stat(StorageLayout.blobData(digest)) == nil { try await forgetCached(digest) }
        }
        return nil
    }

    /// Deletes a cached blob's bytes and marker, unless it was used, fetched again or pushed since
    /// the sweep listed it. Readers holding it open keep reading.
    /// - Returns: whether it was removed.
    private func removeCached(_ entry: CacheRetention.Entry) async throws -> Bool {
        try await blobLocks.withLock(entry.digest) {
            guard let marker = try await driver.stat(Self.cacheMarker(entry.digest)), marker.modifiedAt == entry.lastUse else { return false }
            try await driver.delete(StorageLayout.blobData(entry.digest).parent)
            // After the bytes are gone: a lookup in between would otherwise cache the old size again.
            blobSizes.remove(entry.digest)
            try await forgetCached(entry.digest)
            return true
        }
    }
}
