import OCI

/// The registry's content: blobs shared by digest, and per repository the links, manifest
/// revisions, tags and uploads, all in Distribution's layout (`StorageLayout`).
///
/// Keeps small in-memory caches so that hot lookups (is this blob linked here, what does
/// this tag point at, the bytes of a manifest) touch the disk once. Every write the store
/// makes updates them; another process writing the same store at the same time is not
/// supported.
public final class ContentStore: Sendable {
    public let driver: any StorageDriver
    let manifests = BoundedCache<Digest, StoredManifest>(capacity: 64 << 20)
    // Bounded by estimated bytes: names and tags are as long as a client makes them.
    let blobSizes = BoundedCache<Digest, Int64>(capacity: 32 << 20) { digest, _ in digest.description.utf8.count + 64 }
    let links = BoundedCache<RepositoryLink, Bool>(capacity: 64 << 20) { link, _ in link.estimatedBytes }
    let revisionLinks = BoundedCache<RepositoryLink, Bool>(capacity: 64 << 20) { link, _ in link.estimatedBytes }
    let tagTargets = BoundedCache<RepositoryTag, Digest>(capacity: 32 << 20) { key, digest in
        key.repository.description.utf8.count + key.tag.description.utf8.count + digest.description.utf8.count + 96
    }
    let uploads = UploadSessions()
    /// When cached blobs are removed (`sweepCache`); nil keeps them.
    public let retention: CacheRetention?
    /// When `noteUse` last recorded a GET of a blob.
    let lastNotedUse = BoundedCache<Digest, ContinuousClock.Instant>(capacity: 16 << 20) { digest, _ in digest.description.utf8.count + 64 }
    /// Held while a blob is published (a fill's commit, an upload's completion) or removed by a sweep.
    let blobLocks = KeyedLock<Digest>()

    public init(driver: any StorageDriver, retention: CacheRetention? = nil) {
        self.driver = driver
        self.retention = retention
    }

    // MARK: Blobs

    /// The size of the committed blob, or nil if it is not stored.
    public func blobSize(_ digest: Digest) async throws -> Int64? {
        if let size = blobSizes[digest] { return size }
        guard let info = try await driver.stat(StorageLayout.blobData(digest)), !info.isDirectory else { return nil }
        blobSizes.insert(info.size, for: digest)
        return info.size
    }

    /// Opens a committed blob at `offset`.
    /// - Throws: `notFound` when the file is gone (removed by hand or by another tool since it was
    ///   cached); the cached size is dropped then, so the next `blobSize` asks the disk again.
    public func openBlob(_ digest: Digest, offset: Int64 = 0) async throws -> any StorageReader {
        do {
            return try await driver.reader(StorageLayout.blobData(digest), offset: offset)
        } catch let error as StorageError where error.code == .notFound {
            blobSizes.remove(digest)
            throw error
        }
    }

    /// Stores small content (a manifest) as a blob, unless it is already stored.
    func putBlob(_ bytes: [UInt8], digest: Digest) async throws {
        // The disk, not the size cache, decides: a stored copy of another size is damaged and replaced.
        if let stored = try await driver.stat(StorageLayout.blobData(digest)), stored.size == Int64(bytes.count) {
            blobSizes.insert(stored.size, for: digest)
            return
        }
        try await driver.putContent(StorageLayout.blobData(digest), bytes)
        blobSizes.insert(Int64(bytes.count), for: digest)
    }

    // MARK: Repository links

    /// True when `repository` references `digest` as a layer or config (`_layers`), or as a
    /// manifest revision: the only blobs a repository may serve.
    public func isLinked(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        let key = RepositoryLink(repository: repository, digest: digest)
        if links[key] == true { return true }
        for path in [StorageLayout.layerLink(repository, digest), StorageLayout.revisionLink(repository, digest)] {
            if try await driver.stat(path) != nil {
                links.insert(true, for: key)
                return true
            }
        }
        return false
    }

    /// Links `digest` into `repository` as a layer (Distribution's `_layers` link).
    public func link(_ digest: Digest, into repository: RepositoryName) async throws {
        let path = StorageLayout.layerLink(repository, digest)
        if try await driver.stat(path) == nil {
            try await driver.putContent(path, Array(digest.description.utf8))
        }
        links.insert(true, for: RepositoryLink(repository: repository, digest: digest))
    }

    /// Removes `repository`'s layer link to `digest`; the shared blob stays for other repositories.
    /// - Returns: false when there was no such link.
    public func unlink(_ digest: Digest, from repository: RepositoryName) async throws -> Bool {
        let path = StorageLayout.layerLink(repository, digest)
        links.remove(RepositoryLink(repository: repository, digest: digest))
        guard try await driver.stat(path) != nil else { return false }
        try await driver.delete(path.parent)
        return true
    }

    /// Reads a `link` file; nil when absent or not a digest.
    func readLink(_ path: StoragePath) async throws -> Digest? {
        do {
            let bytes = try await driver.getContent(path)
            return Digest(String(decoding: bytes, as: UTF8.self).trimmingWhitespace())
        } catch let error as StorageError where error.code == .notFound {
            return nil
        }
    }
}

struct RepositoryLink: Hashable, Sendable {
    var repository: RepositoryName
    var digest: Digest

    var estimatedBytes: Int { repository.description.utf8.count + digest.description.utf8.count + 96 }
}

struct RepositoryTag: Hashable, Sendable {
    var repository: RepositoryName
    var tag: Tag
}

extension String {
    func trimmingWhitespace() -> Substring {
        var s = self[...]
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return s
    }
}
