import Foundation
import OCI
import Storage
import Testing

@Suite struct CacheRetentionTests {
    func entry(_ name: String, lastUse: Double, size: Int64) -> CacheRetention.Entry {
        CacheRetention.Entry(digest: Digest.sha256(of: Array(name.utf8)), lastUse: lastUse, size: size)
    }

    @Test func expiredEntriesGoWhateverTheSize() {
        let retention = CacheRetention(ttl: .seconds(100))
        let old = entry("old", lastUse: 1000, size: 10)
        let fresh = entry("fresh", lastUse: 1950, size: 10)
        let edge = entry("edge", lastUse: 1900, size: 10)  // exactly ttl old: kept
        let victims = retention.victims(of: [old, fresh, edge], now: 2000)
        #expect(victims.map(\.entry) == [old])
        #expect(victims.map(\.reason) == [.expired])
    }

    @Test func overTheSizeTheLeastRecentlyUsedGoUntilTheRestFits() {
        let retention = CacheRetention(maxSize: 250)
        let a = entry("a", lastUse: 300, size: 100)
        let b = entry("b", lastUse: 100, size: 100)
        let c = entry("c", lastUse: 200, size: 100)
        let d = entry("d", lastUse: 400, size: 100)
        let victims = retention.victims(of: [a, b, c, d], now: 500)
        // 400 bytes, limit 250: the two oldest (b, then c) go.
        #expect(victims.map(\.entry) == [b, c])
        #expect(victims.allSatisfy { $0.reason == .size })
        #expect(retention.victims(of: [a, d], now: 500).isEmpty)
    }

    @Test func expiredBytesCountBeforeTheSizeLimitIsApplied() {
        let retention = CacheRetention(ttl: .seconds(1000), maxSize: 150)
        let expired = entry("expired", lastUse: 0, size: 500)
        let older = entry("older", lastUse: 1500, size: 100)
        let newer = entry("newer", lastUse: 1600, size: 100)
        let victims = retention.victims(of: [newer, expired, older], now: 2000)
        #expect(victims.map(\.entry) == [expired, older])
        #expect(victims.map(\.reason) == [.expired, .size])
    }

    @Test func equalLastUseIsBrokenByDigestSoTheListingOrderDoesNotMatter() {
        let retention = CacheRetention(maxSize: 100)
        let x = entry("x", lastUse: 10, size: 100)
        let y = entry("y", lastUse: 10, size: 100)
        #expect(retention.victims(of: [x, y], now: 20).map(\.entry) == retention.victims(of: [y, x], now: 20).map(\.entry))
    }

    @Test func useIsRecordedAtATenthOfTheTTLAtMostAMinute() {
        #expect(CacheRetention(ttl: .seconds(10)).useResolution == .seconds(1))
        #expect(CacheRetention(ttl: .seconds(7 * 24 * 3600)).useResolution == .seconds(60))
        #expect(CacheRetention(maxSize: 1).useResolution == .seconds(60))
        #expect(!CacheRetention().isEnabled)
    }
}

@Suite struct ContentStoreCacheTests {
    let repo = RepositoryName("mirror/app")!

    /// Commits `bytes` the way a mirror fill does; returns the digest.
    func fill(_ bytes: [UInt8], into store: ContentStore) async throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        let staging = try store.makeStagingFile(for: digest)
        #expect(FileManager.default.createFile(atPath: staging.fullPath, contents: Data(bytes)))
        try await store.commitStaged(staging, digest: digest, size: Int64(bytes.count), into: repo)
        return digest
    }

    func setLastUse(_ t: TemporaryStore, _ digest: Digest, _ seconds: Double) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: seconds)],
                                              ofItemAtPath: t.root + "/_wharf/cache/sha256/" + digest.encoded)
    }

    @Test func aSweepRemovesTheLeastRecentlyUsedFilledBlobsAndNeverAPushedOne() async throws {
        let t = TemporaryStore(retention: CacheRetention(maxSize: 2500))
        defer { t.remove() }
        let first = try await fill(Array(repeating: 1, count: 1000), into: t.store)
        let second = try await fill(Array(repeating: 2, count: 1000), into: t.store)
        let third = try await fill(Array(repeating: 3, count: 1000), into: t.store)
        try setLastUse(t, first, 1_000_000)
        try setLastUse(t, second, 3_000_000)
        try setLastUse(t, third, 2_000_000)
        // A pushed blob bigger than the limit is not the cache's to remove.
        let pushed = Digest.sha256(of: Array(repeating: 9, count: 5000))
        let id = try await t.store.startUpload(in: repo)
        let appender = try await t.store.appendToUpload(id, in: repo, start: 0)
        try Array(repeating: UInt8(9), count: 5000).withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        _ = try await t.store.completeUpload(id, in: repo, digest: pushed)

        let sweep = try await t.store.sweepCache(now: 4_000_000)
        #expect(sweep.removed == [.size: CacheSweep.Tally(count: 1, bytes: 1000)])
        #expect(sweep.kept == CacheSweep.Tally(count: 2, bytes: 2000))
        #expect(try await t.store.blobSize(first) == nil)
        #expect(!FileManager.default.fileExists(atPath: t.root + "/_wharf/cache/sha256/" + first.encoded))
        #expect(try await t.store.blobSize(second) == 1000)
        #expect(try await t.store.blobSize(third) == 1000)
        #expect(try await t.store.blobSize(pushed) == 5000)
        // The link stays: the next GET through the repository fetches the blob again.
        #expect(try await t.store.isLinked(first, in: repo))
        let again = try await t.store.sweepCache(now: 4_000_000)
        #expect(again.removedTotal.count == 0)
    }

    @Test func aFetchedBlobPushedOrMountedLaterIsNoLongerTheCaches() async throws {
        let t = TemporaryStore(retention: CacheRetention(maxSize: 1))
        defer { t.remove() }
        let pushedLater = try await fill(Array(repeating: 4, count: 100), into: t.store)
        let mountedLater = try await fill(Array(repeating: 5, count: 100), into: t.store)
        let id = try await t.store.startUpload(in: RepositoryName("local/app")!)
        let appender = try await t.store.appendToUpload(id, in: RepositoryName("local/app")!, start: 0)
        try Array(repeating: UInt8(4), count: 100).withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        #expect(try await t.store.completeUpload(id, in: RepositoryName("local/app")!, digest: pushedLater) == 100)
        try await t.store.markPushed(mountedLater)
        let sweep = try await t.store.sweepCache(now: Date().timeIntervalSince1970 + 3600)
        #expect(sweep.removedTotal.count == 0 && sweep.kept.count == 0)
        #expect(try await t.store.blobSize(pushedLater) == 100)
        #expect(try await t.store.blobSize(mountedLater) == 100)
    }

    @Test func aRecordedUseMakesABlobTheNewest() async throws {
        let t = TemporaryStore(retention: CacheRetention(ttl: .seconds(3600)))
        defer { t.remove() }
        let used = try await fill(Array(repeating: 1, count: 10), into: t.store)
        let unused = try await fill(Array(repeating: 2, count: 10), into: t.store)
        let now = Date().timeIntervalSince1970
        try setLastUse(t, used, now - 7200)
        try setLastUse(t, unused, now - 7200)
        // A fresh store (as after a restart) has no record of when it last noted a use.
        let restarted = ContentStore(driver: FilesystemDriver(root: t.root), retention: t.store.retention)
        await restarted.noteUse(used)
        let sweep = try await restarted.sweepCache(now: now)
        #expect(sweep.removed[.expired]?.count == 1)
        #expect(try await restarted.blobSize(used) == 10)
        #expect(try await restarted.blobSize(unused) == nil)
    }

    @Test func aMarkerWhoseBlobWasRemovedByHandIsDropped() async throws {
        let t = TemporaryStore(retention: CacheRetention(maxSize: 1 << 30))
        defer { t.remove() }
        let digest = try await fill(Array(repeating: 7, count: 10), into: t.store)
        try FileManager.default.removeItem(atPath: t.file("blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)"))
        let sweep = try await t.store.sweepCache(now: Date().timeIntervalSince1970)
        #expect(sweep.kept.count == 0 && sweep.removedTotal.count == 0)
        #expect(!FileManager.default.fileExists(atPath: t.root + "/_wharf/cache/sha256/" + digest.encoded))
    }
}
