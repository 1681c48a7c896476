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

    /// Removes what `retention` says must go, as of `now` (seconds since 1970).
    public func sweepCache(_ retention: CacheRetention, now: Double) async throws -> CacheSweep {
        var entries: [CacheRetention.Entry] = []
        for algorithm in try await driver.list(Self.cacheDirectory) {
            for encoded in try await driver.list(Self.cacheDirectory.appending(algorithm)) {
                guard let digest = Digest("\(algorithm):\(encoded)") else { continue }
                guard let marker = try await driver.stat(Self.cacheMarker(digest)) else { continue }
                guard let blob = try await driver.stat(StorageLayout.blobData(digest)) else {
                    // The blob went some other way (removed by hand): its marker goes too.
                    try await driver.delete(Self.cacheMarker(digest))
                    continue
                }
                entries.append(CacheRetention.Entry(digest: digest, lastUse: marker.modifiedAt, size: blob.size))
            }
        }
        var sweep = CacheSweep()
        var removed = Set<Digest>()
        for (entry, reason) in retention.victims(of: entries, now: now) {
            // Used (or fetched again) since it was listed: it stays until the next sweep decides.
            guard let marker = try await driver.stat(Self.cacheMarker(entry.digest)), marker.modifiedAt == entry.lastUse else { continue }
            try await removeCached(entry.digest)
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

    /// Deletes a cached blob's bytes and marker; readers holding it open keep reading.
    private func removeCached(_ digest: Digest) async throws {
        blobSizes.remove(digest)
        try await driver.delete(StorageLayout.blobData(digest).parent)
        try await driver.delete(Self.cacheMarker(digest))
        lastNotedUse.remove(digest)
    }
}
