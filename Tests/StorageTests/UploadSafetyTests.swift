import Foundation
import OCI
import Storage
import Testing

/// An upload is completed only when no request is writing it; a push repairs a damaged copy;
/// abandoned uploads are purged by their `startedat`.
@Suite struct UploadSafetyTests {
    let repo = RepositoryName("team/safe")!

    @Test func aCompletionWhileAChunkIsOpenIsRefusedAndTheChunkStaysOutOfTheBlob() async throws {
        let temporary = TemporaryStore()
        defer { temporary.remove() }
        let store = temporary.store
        let first = Array("first half".utf8), second = Array(" and the rest".utf8)
        let id = try await store.startUpload(in: repo)
        let appender = try await store.appendToUpload(id, in: repo, start: 0)
        try first.withUnsafeBytes { try appender.write($0) }
        await #expect(throws: RegistryError.self) {
            _ = try await store.completeUpload(id, in: repo, digest: Digest.sha256(of: first))
        }
        try second.withUnsafeBytes { try appender.write($0) }
        try await appender.finish()
        #expect(try await store.blobSize(Digest.sha256(of: first)) == nil)
        let whole = first + second
        #expect(try await store.completeUpload(id, in: repo, digest: Digest.sha256(of: whole)) == Int64(whole.count))
        // The upload is gone: a late chunk cannot reopen it, nor write into the published blob.
        await #expect(throws: RegistryError.self) { _ = try await store.appendToUpload(id, in: repo, start: Int64(whole.count)) }
        #expect(FileManager.default.contents(atPath: temporary.file("blobs/sha256/\(String(Digest.sha256(of: whole).encoded.prefix(2)))/\(Digest.sha256(of: whole).encoded)/data")) == Data(whole))
    }

    @Test func pushingOverADamagedBlobRepairsIt() async throws {
        let temporary = TemporaryStore()
        defer { temporary.remove() }
        let store = temporary.store
        let bytes = Array(repeating: UInt8(7), count: 4096)
        let digest = Digest.sha256(of: bytes)
        for round in 0..<2 {
            let id = try await store.startUpload(in: repo)
            let appender = try await store.appendToUpload(id, in: repo, start: 0)
            try bytes.withUnsafeBytes { try appender.write($0) }
            try await appender.finish()
            _ = try await store.completeUpload(id, in: repo, digest: digest)
            let path = temporary.file("blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data")
            #expect(FileManager.default.contents(atPath: path) == Data(bytes), "round \(round)")
            // Damage it: the next push must replace it.
            try Data(bytes.prefix(10)).write(to: URL(fileURLWithPath: path))
        }
    }

    @Test func uploadsStartedBeforeTheCutoffArePurgedUnlessDryRun() async throws {
        let temporary = TemporaryStore()
        defer { temporary.remove() }
        let store = temporary.store
        let old = try await store.startUpload(in: repo), fresh = try await store.startUpload(in: repo)
        try Data("2020-01-01T00:00:00Z".utf8).write(to: URL(fileURLWithPath: temporary.file("repositories/team/safe/_uploads/\(old)/startedat")))
        let cutoff = Date().timeIntervalSince1970 - 3600
        let dry = try await store.purgeUploads(startedBefore: cutoff, dryRun: true)
        #expect(dry.expired.count == 1)
        #expect(try await store.uploadSize(old, in: repo) == 0)
        let purge = try await store.purgeUploads(startedBefore: cutoff, dryRun: false)
        #expect(purge.expired.map(\.lastComponent) == [old.value])
        #expect(try await store.uploadSize(old, in: repo) == nil)
        #expect(try await store.uploadSize(fresh, in: repo) == 0)
    }
}
