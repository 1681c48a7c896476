import Foundation
import OCI
import Storage
import Testing

/// A fresh store in a temporary directory, removed afterwards.
struct TemporaryStore {
    let root: String
    let store: ContentStore

    init(retention: CacheRetention? = nil) {
        root = NSTemporaryDirectory() + "wharf-store-" + UUID().uuidString
        store = ContentStore(driver: FilesystemDriver(root: root), retention: retention)
    }

    func file(_ relative: String) -> String { root + "/docker/registry/v2/" + relative }
    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: file(relative)) }
    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct ContentStoreTests {
    let repo = RepositoryName("team/app")!

    func upload(_ bytes: [UInt8], to store: ContentStore, in repo: RepositoryName, chunks: Int = 1) async throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        let id = try await store.startUpload(in: repo)
        let size = max(1, bytes.count / chunks)
        var offset = 0
        while offset < bytes.count {
            let appender = try await store.appendToUpload(id, in: repo, start: Int64(offset))
            let end = min(bytes.count, offset + size)
            try bytes[offset..<end].withUnsafeBytes { try appender.write($0) }
            try await appender.finish()
            offset = end
        }
        #expect(try await store.completeUpload(id, in: repo, digest: digest) == Int64(bytes.count))
        return digest
    }

    @Test func aCompletedUploadIsStoredInDistributionsLayout() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let bytes = Array("layer bytes".utf8)
        let digest = try await upload(bytes, to: t.store, in: repo, chunks: 3)
        #expect(FileManager.default.contents(atPath: t.file("blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data")) == Data(bytes))
        let link = FileManager.default.contents(atPath: t.file("repositories/team/app/_layers/sha256/\(digest.encoded)/link"))
        #expect(link == Data(digest.description.utf8))
        #expect(try await t.store.isLinked(digest, in: repo))
        #expect(try await t.store.isLinked(digest, in: RepositoryName("other")!) == false)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: t.file("repositories/team/app/_uploads"))) ?? []
        #expect(leftovers.isEmpty)
    }

    @Test func aDigestMismatchStoresNothing() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let id = try await t.store.startUpload(in: repo)
        let appender = try await t.store.appendToUpload(id, in: repo, start: 0)
        try Array("actual".utf8).withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        let claimed = Digest.sha256(of: Array("claimed".utf8))
        await #expect(throws: RegistryError.self) { try await t.store.completeUpload(id, in: repo, digest: claimed) }
        #expect(try await t.store.blobSize(claimed) == nil)
        #expect(try await t.store.blobSize(Digest.sha256(of: Array("actual".utf8))) == nil)
        #expect(try await t.store.uploadSize(id, in: repo) == nil)
    }

    @Test func anOutOfOrderChunkIsRefusedWithTheCurrentRange() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let id = try await t.store.startUpload(in: repo)
        let appender = try await t.store.appendToUpload(id, in: repo, start: 0)
        try Array("0123456789".utf8).withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        do {
            _ = try await t.store.appendToUpload(id, in: repo, start: 5)
            Issue.record("an out-of-order chunk was accepted")
        } catch let error as RegistryError {
            #expect(error.status == 416)
            #expect(error.headers.contains { $0 == ("Range", "0-9") })
        }
    }

    @Test func anUploadHashedAgainAfterARestartStillVerifies() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let bytes = Array(repeating: UInt8(7), count: 3000)
        let id = try await t.store.startUpload(in: repo)
        let appender = try await t.store.appendToUpload(id, in: repo, start: 0)
        try bytes.withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        // A new store over the same directory has no in-memory hash state.
        let restarted = ContentStore(driver: FilesystemDriver(root: t.root))
        let digest = Digest.sha256(of: bytes)
        #expect(try await restarted.completeUpload(id, in: repo, digest: digest) == 3000)
        #expect(try await restarted.blobSize(digest) == 3000)
    }

    @Test func manifestsTagsAndReferrers() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let config = try await upload(Array("{}".utf8), to: t.store, in: repo)
        let image = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[]}"#
        let (stored, _) = try await t.store.putManifest(Array(image.utf8), contentType: MediaType.ociManifest, in: repo,
                                                        tag: Tag("v1"), expectedDigest: nil)
        #expect(try await t.store.resolve(Tag("v1")!, in: repo) == stored.digest)
        #expect(FileManager.default.contents(atPath: t.file("repositories/team/app/_manifests/tags/v1/current/link")) == Data(stored.digest.description.utf8))
        #expect(t.exists("repositories/team/app/_manifests/tags/v1/index/sha256/\(stored.digest.encoded)/link"))
        #expect(try await t.store.manifest(stored.digest, in: repo)?.bytes == Array(image.utf8))
        #expect(try await t.store.manifest(stored.digest, in: RepositoryName("elsewhere")!) == nil)

        let sbom = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sbom","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(config)","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(stored.digest)","size":\#(image.utf8.count)},"annotations":{"k":"v"}}"#
        let (referrer, _) = try await t.store.putManifest(Array(sbom.utf8), contentType: MediaType.ociManifest, in: repo, tag: nil, expectedDigest: nil)
        let found = try await t.store.referrers(to: stored.digest, in: repo, artifactType: nil)
        #expect(found.map(\.digest) == [referrer.digest.description])
        #expect(found.first?.artifactType == "application/x-sbom")
        #expect(found.first?.annotations == ["k": "v"])
        #expect(try await t.store.referrers(to: stored.digest, in: repo, artifactType: "other").isEmpty)

        #expect(try await t.store.tags(in: repo) == [Tag("v1")!])
        #expect(try await t.store.repositories() == [repo])
        #expect(try await t.store.deleteManifest(stored.digest, in: repo))
        #expect(try await t.store.resolve(Tag("v1")!, in: repo) == nil)
        #expect(try await t.store.tags(in: repo) == [])
    }

    @Test func aManifestReferencingAnUnlinkedBlobIsRefused() async throws {
        let t = TemporaryStore()
        defer { t.remove() }
        let other = RepositoryName("other")!
        let config = try await upload(Array("{}".utf8), to: t.store, in: other)
        let image = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[]}"#
        do {
            _ = try await t.store.putManifest(Array(image.utf8), contentType: nil, in: repo, tag: Tag("v1"), expectedDigest: nil)
            Issue.record("a manifest with a blob from another repository was accepted")
        } catch let error as RegistryError {
            #expect(error.code == .manifestBlobUnknown)
        }
        #expect(try await t.store.tags(in: repo) == nil)
    }
}
