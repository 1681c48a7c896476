import OCI

/// A file a mirror fill writes a blob into before it is verified and published.
public struct StagingFile: Sendable {
    public let path: StoragePath
    /// The local filesystem path, for descriptors handed to the upstream client and readers.
    public let fullPath: String
}

extension ContentStore {
    /// Where unverified fills live: outside Distribution's tree (which never sees them), on the
    /// same filesystem as the blobs (so publishing is a rename).
    public static let stagingDirectory = StoragePath(["_wharf", "staging"])

    /// A new, unique staging file name for `digest`, in a staging directory that exists.
    /// - Throws: when the driver keeps no local files (a mirror needs local staging).
    public func makeStagingFile(for digest: Digest) throws -> StagingFile {
        guard let filesystem = driver as? FilesystemDriver else {
            throw StorageError(.io, "the \(driver.name) storage driver cannot stage mirrored blobs")
        }
        try filesystem.makeDirectories(filesystem.fullPath(Self.stagingDirectory))
        let path = Self.stagingDirectory.appending("\(digest.algorithm)-\(digest.encoded)-\(UInt32.random(in: 0...UInt32.max))")
        return StagingFile(path: path, fullPath: filesystem.fullPath(path))
    }

    /// Deletes staging files left by a previous run: they were never verified, so never trusted.
    public func removeStaleStagingFiles() async throws {
        try await driver.delete(Self.stagingDirectory)
    }

    /// Publishes a verified staging file as the blob `digest` (an atomic rename), marks it as
    /// cached (so a `CacheRetention` may remove it later), and links it into `repository`.
    /// With no repository (a CDN edge) the blob is kept by digest only.
    public func commitStaged(_ staging: StagingFile, digest: Digest, size: Int64, into repository: RepositoryName?) async throws {
        try await blobLocks.withLock(digest) {
            // The disk, not the size cache, says whether the blob is there (a sweep may just have removed it).
            if try await driver.stat(StorageLayout.blobData(digest)) == nil {
                // Marked first: a crash between the two leaves a marker a sweep drops, never a cached blob it can't see.
                try await markCached(digest)
                try await driver.move(staging.path, to: StorageLayout.blobData(digest))
                blobSizes.insert(size, for: digest)
            } else {
                try await driver.delete(staging.path)
            }
        }
        if let repository { try await link(digest, into: repository) }
    }

    /// Stores a manifest fetched from an upstream: its exact bytes, the revision link and the tag.
    /// Its blobs are not required locally; they come on demand.
    public func putMirroredManifest(_ bytes: [UInt8], digest: Digest, in repository: RepositoryName, tag: Tag?) async throws -> StoredManifest {
        try await putBlob(bytes, digest: digest)
        let key = RepositoryLink(repository: repository, digest: digest)
        if revisionLinks[key] != true {
            try await driver.putContent(StorageLayout.revisionLink(repository, digest), Array(digest.description.utf8))
            revisionLinks.insert(true, for: key)
        }
        if let tag, try await resolve(tag, in: repository) != digest {
            try await self.tag(tag, to: digest, in: repository)
        }
        let stored = StoredManifest(digest: digest, bytes: bytes)
        manifests.insert(stored, for: digest, cost: bytes.count + 256)
        return stored
    }
}

extension ContentStore {
    /// Hashes a staging file with `digest`'s algorithm (after a resumed fill).
    public func hashStaged(_ staging: StagingFile, like digest: Digest) async throws -> Digest {
        try await hashStored(staging.path, like: digest)
    }
}
