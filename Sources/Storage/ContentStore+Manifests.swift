import Foundation
import OCI

/// A manifest as stored: its exact bytes, and what the registry needs to know of it.
public struct StoredManifest: Sendable {
    public let digest: Digest
    public let bytes: [UInt8]
    public let mediaType: String
    /// The manifest's `subject`, for the referrers API.
    public let subject: Digest?
    /// The descriptor a referrers listing shows for this manifest.
    public let referrerDescriptor: Descriptor
    /// Platform children of an index, for clients that cannot take an index.
    public let children: [Descriptor]

    init(digest: Digest, bytes: [UInt8]) {
        self.digest = digest
        self.bytes = bytes
        if let manifest = try? Manifest(bytes: bytes, declaredType: nil) {
            mediaType = manifest.mediaType
            subject = manifest.subject.flatMap { Digest($0.digest) }
            children = manifest.manifests
            referrerDescriptor = Descriptor(mediaType: manifest.mediaType, digest: digest.description, size: Int64(bytes.count),
                                            artifactType: manifest.referrerArtifactType, annotations: manifest.annotations)
        } else {
            // Legacy content a Distribution 2.x store may hold (schema 1): served as stored.
            mediaType = Self.sniffLegacyType(bytes)
            subject = nil
            children = []
            referrerDescriptor = Descriptor(mediaType: mediaType, digest: digest.description, size: Int64(bytes.count))
        }
    }

    private static func sniffLegacyType(_ bytes: [UInt8]) -> String {
        struct Probe: Decodable {
            var mediaType: String?
            var schemaVersion: Int?
            var signatures: [AnyCodableValue]?
        }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: Data(bytes)) else { return "application/octet-stream" }
        if let type = probe.mediaType { return type }
        if probe.schemaVersion == 1 { return probe.signatures == nil ? MediaType.dockerSchema1 : MediaType.dockerSchema1Signed }
        return "application/octet-stream"
    }
}

/// Accepts any JSON value; only its presence matters.
private struct AnyCodableValue: Decodable {
    init(from decoder: any Decoder) throws {}
}

extension ContentStore {
    /// The manifest `digest` if `repository` holds it as a revision.
    public func manifest(_ digest: Digest, in repository: RepositoryName) async throws -> StoredManifest? {
        guard try await hasRevision(digest, in: repository) else { return nil }
        return try await loadManifest(digest)
    }

    func hasRevision(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        let key = RepositoryLink(repository: repository, digest: digest)
        if revisionLinks[key] == true { return true }
        guard try await driver.stat(StorageLayout.revisionLink(repository, digest)) != nil else { return false }
        revisionLinks.insert(true, for: key)
        return true
    }

    func loadManifest(_ digest: Digest) async throws -> StoredManifest? {
        if let cached = manifests[digest] { return cached }
        let bytes: [UInt8]
        do {
            bytes = try await driver.getContent(StorageLayout.blobData(digest))
        } catch let error as StorageError where error.code == .notFound {
            return nil
        }
        let stored = StoredManifest(digest: digest, bytes: bytes)
        manifests.insert(stored, for: digest, cost: bytes.count + 256)
        return stored
    }

    /// Stores a pushed manifest: checks it, stores its exact bytes, links the revision, and
    /// points `tag` at it.
    ///
    /// - Parameters:
    ///   - expectedDigest: the digest the client pushed by, which the bytes must match.
    /// - Throws: `RegistryError` `MANIFEST_INVALID`, `DIGEST_INVALID` or
    ///   `MANIFEST_BLOB_UNKNOWN` (naming the missing digest) for bad content.
    public func putManifest(_ bytes: [UInt8], contentType: String?, in repository: RepositoryName,
                            tag: Tag?, expectedDigest: Digest?) async throws -> (StoredManifest, Manifest) {
        let manifest = try Manifest(bytes: bytes, declaredType: contentType)
        let digest: Digest
        if let expectedDigest {
            guard var hasher = DigestHasher(for: expectedDigest) else {
                throw RegistryError(.digestInvalid, "digest algorithm \(expectedDigest.algorithm) is not supported")
            }
            hasher.update(bytes)
            digest = hasher.finalize()
            guard digest == expectedDigest else {
                throw RegistryError(.digestInvalid, "manifest digest is \(digest), not \(expectedDigest) as in the URL")
            }
        } else {
            digest = Digest.sha256(of: bytes)
        }
        if manifest.isIndex {
            for child in manifest.manifests {
                guard let childDigest = Digest(child.digest), try await isLinked(childDigest, in: repository) else {
                    throw RegistryError(.manifestBlobUnknown, "manifest \(child.digest) listed by the index is not in \(repository)",
                                        detailJSON: #"{"digest":"\#(child.digest)"}"#)
                }
            }
        } else {
            for blob in manifest.referencedBlobs {
                guard let blobDigest = Digest(blob.digest), try await isLinked(blobDigest, in: repository) else {
                    throw RegistryError(.manifestBlobUnknown, "blob \(blob.digest) referenced by the manifest is not in \(repository)",
                                        detailJSON: #"{"digest":"\#(blob.digest)"}"#)
                }
            }
        }
        try await putBlob(bytes, digest: digest)
        let revision = StorageLayout.revisionLink(repository, digest)
        try await driver.putContent(revision, Array(digest.description.utf8))
        revisionLinks.insert(true, for: RepositoryLink(repository: repository, digest: digest))
        if let tag {
            try await self.tag(tag, to: digest, in: repository)
        }
        let stored = StoredManifest(digest: digest, bytes: bytes)
        manifests.insert(stored, for: digest, cost: bytes.count + 256)
        return (stored, manifest)
    }

    /// Deletes the manifest revision and every tag that points at it.
    /// - Returns: false when the repository holds no such manifest.
    public func deleteManifest(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        guard try await hasRevision(digest, in: repository) else { return false }
        for tag in try await tags(in: repository) ?? [] where try await resolve(tag, in: repository) == digest {
            _ = try await deleteTag(tag, in: repository)
        }
        try await driver.delete(StorageLayout.revisionLink(repository, digest).parent)
        revisionLinks.remove(RepositoryLink(repository: repository, digest: digest))
        links.remove(RepositoryLink(repository: repository, digest: digest))
        return true
    }

    /// Manifests in `repository` whose `subject` is `digest`, optionally of one artifact type.
    public func referrers(to digest: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        var result: [Descriptor] = []
        for revision in try await revisions(in: repository).sorted() {
            guard let stored = try await loadManifest(revision), stored.subject == digest else { continue }
            if let artifactType, stored.referrerDescriptor.artifactType != artifactType { continue }
            result.append(stored.referrerDescriptor)
        }
        return result
    }

    /// Every manifest digest linked as a revision of `repository`.
    public func revisions(in repository: RepositoryName) async throws -> [Digest] {
        var digests: [Digest] = []
        let base = StorageLayout.revisions(repository)
        for algorithm in try await driver.list(base) {
            for encoded in try await driver.list(base.appending(algorithm)) {
                if let digest = Digest("\(algorithm):\(encoded)") { digests.append(digest) }
            }
        }
        return digests
    }
}
