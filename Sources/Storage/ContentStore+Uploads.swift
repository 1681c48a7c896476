import Foundation
import OCI
import Synchronization

/// In-memory state of the uploads this process is writing: the running hash, so a
/// chunked upload is hashed once as it streams. After a restart an upload found only on
/// disk is hashed again when it completes.
final class UploadSessions: Sendable {
    struct Session {
        var hasher: DigestHasher
        var size: Int64
        var isBusy = false
    }

    let sessions = Mutex<[UploadID: Session]>([:])
}

/// Appends one request's body to an upload, hashing as it writes.
///
/// Not `Sendable`: it belongs to the request that opened it, which must end it with
/// `finish()` or `abort()`.
public final class UploadAppender {
    public let id: UploadID
    private let writer: any StorageWriter
    private var hasher: DigestHasher?
    private let store: ContentStore
    private var ended = false

    init(id: UploadID, writer: any StorageWriter, hasher: DigestHasher?, store: ContentStore) {
        self.id = id
        self.writer = writer
        self.hasher = hasher
        self.store = store
    }

    /// Bytes in the upload so far.
    public var size: Int64 { writer.size }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writer.write(bytes)
        hasher?.update(bytes)
    }

    /// Keeps what was written and releases the upload for the next request.
    public func finish() async throws {
        guard !ended else { return }
        ended = true
        try await writer.close()
        store.releaseUpload(id, hasher: hasher, size: writer.size)
    }

    /// Releases the upload after a failed request; the hash state is dropped, so the
    /// bytes are hashed again from disk if the upload is completed later.
    public func abort() async {
        guard !ended else { return }
        ended = true
        try? await writer.close()
        store.releaseUpload(id, hasher: nil, size: writer.size)
    }
}

extension ContentStore {
    /// Starts an upload session in `repository`.
    public func startUpload(in repository: RepositoryName) async throws -> UploadID {
        let id = UploadID.random()
        let formatter = ISO8601DateFormatter()
        try await driver.putContent(StorageLayout.uploadStartedAt(repository, id), Array(formatter.string(from: Date()).utf8))
        let writer = try await driver.writer(StorageLayout.uploadData(repository, id), append: false)
        try await writer.close()
        uploads.sessions.withLock { $0[id] = .init(hasher: DigestHasher(algorithm: .sha256), size: 0) }
        return id
    }

    /// Bytes received so far, or nil when there is no such upload in `repository`.
    public func uploadSize(_ id: UploadID, in repository: RepositoryName) async throws -> Int64? {
        guard let info = try await driver.stat(StorageLayout.uploadData(repository, id)), !info.isDirectory else { return nil }
        return info.size
    }

    /// Opens the upload for appending.
    ///
    /// - Parameter start: where the client says its bytes begin (`Content-Range`); it must
    ///   equal the bytes received so far.
    /// - Throws: `BLOB_UPLOAD_UNKNOWN`, or `RANGE_INVALID` (416, with the current `Range`)
    ///   for an out-of-order chunk or an upload another request is writing.
    public func appendToUpload(_ id: UploadID, in repository: RepositoryName, start: Int64?) async throws -> UploadAppender {
        guard let size = try await uploadSize(id, in: repository) else {
            throw RegistryError(.blobUploadUnknown, "upload \(id) is not known in \(repository)")
        }
        let rangeHeader = [("Range", size == 0 ? "0-0" : "0-\(size - 1)"), ("Docker-Upload-UUID", id.value)]
        if let start, start != size {
            throw RegistryError(.rangeInvalid, "chunk starts at \(start), but the upload holds \(size) bytes", headers: rangeHeader)
        }
        let hasher: DigestHasher?? = uploads.sessions.withLock { sessions in
            if var session = sessions[id] {
                guard !session.isBusy else { return .none }
                session.isBusy = true
                sessions[id] = session
                return .some(session.size == size ? session.hasher : nil)
            }
            sessions[id] = .init(hasher: DigestHasher(algorithm: .sha256), size: size, isBusy: true)
            return .some(nil)
        }
        guard let hasher else {
            throw RegistryError(.rangeInvalid, "upload \(id) is being written by another request", headers: rangeHeader)
        }
        // Looked at again now that this request holds the upload: a completion that ran since the
        // first look has published the bytes, and a writer must never reopen (or create) them.
        guard try await uploadSize(id, in: repository) == size else {
            let gone = try await uploadSize(id, in: repository) == nil
            uploads.sessions.withLock { sessions in
                if gone { sessions.removeValue(forKey: id) } else { sessions[id]?.isBusy = false }
            }
            if gone { throw RegistryError(.blobUploadUnknown, "upload \(id) is not known in \(repository)") }
            throw RegistryError(.rangeInvalid, "upload \(id) changed while this chunk was starting", headers: rangeHeader)
        }
        do {
            let writer = try await driver.writer(StorageLayout.uploadData(repository, id), append: true)
            return UploadAppender(id: id, writer: writer, hasher: hasher, store: self)
        } catch {
            releaseUpload(id, hasher: nil, size: size)
            throw error
        }
    }

    func releaseUpload(_ id: UploadID, hasher: DigestHasher?, size: Int64) {
        uploads.sessions.withLock { sessions in
            sessions[id] = .init(hasher: hasher ?? DigestHasher(algorithm: .sha256), size: hasher == nil ? -1 : size)
        }
    }

    /// Verifies the upload's bytes against `digest` and publishes them as that blob
    /// (an atomic, synced rename), linked into `repository`. A mismatch deletes the upload.
    ///
    /// - Returns: the blob's size.
    /// - Throws: `DIGEST_INVALID` on a mismatch or an algorithm Wharf cannot compute;
    ///   `BLOB_UPLOAD_INVALID` while another request is still writing the upload.
    public func completeUpload(_ id: UploadID, in repository: RepositoryName, digest: Digest) async throws -> Int64 {
        guard DigestHasher(for: digest) != nil else {
            try await cancelUpload(id, in: repository)
            throw RegistryError(.digestInvalid, "digest algorithm \(digest.algorithm) is not supported")
        }
        // Held like a PATCH holds it: no chunk may stream in while the bytes are hashed and moved.
        let claimed: UploadSessions.Session?? = uploads.sessions.withLock { sessions in
            if var session = sessions[id] {
                guard !session.isBusy else { return .none }
                session.isBusy = true
                sessions[id] = session
                return .some(session)
            }
            sessions[id] = .init(hasher: DigestHasher(algorithm: .sha256), size: -1, isBusy: true)
            return .some(nil)
        }
        guard let session = claimed else {
            throw RegistryError(.blobUploadInvalid, "upload \(id) is still being written by another request; complete it after that request ends")
        }
        do {
            guard let size = try await uploadSize(id, in: repository) else {
                uploads.sessions.withLock { _ = $0.removeValue(forKey: id) }
                throw RegistryError(.blobUploadUnknown, "upload \(id) is not known in \(repository)")
            }
            let actual: Digest
            if let session, session.size == size, session.hasher.algorithm.rawValue == digest.algorithm {
                actual = session.hasher.finalize()
            } else {
                actual = try await hashStored(StorageLayout.uploadData(repository, id), like: digest)
            }
            guard actual == digest else {
                try await cancelUpload(id, in: repository)
                throw RegistryError(.digestInvalid, "uploaded content has digest \(actual), not \(digest)")
            }
            try await blobLocks.withLock(digest) {
                // Pushed, the blob is no longer the cache's to remove, even if a mirror fetched it first.
                try await forgetCached(digest)
                // A stored copy of another size is damaged (the digest fixes the size): the push replaces it.
                let stored = try await driver.stat(StorageLayout.blobData(digest))
                if stored == nil || stored?.size != size {
                    try await driver.move(StorageLayout.uploadData(repository, id), to: StorageLayout.blobData(digest))
                    manifests.remove(digest)
                }
                blobSizes.insert(size, for: digest)
            }
            try await link(digest, into: repository)
            try await cancelUpload(id, in: repository)
            return size
        } catch {
            uploads.sessions.withLock { sessions in sessions[id]?.isBusy = false }
            throw error
        }
    }

    /// Deletes an upload and its bytes. - Returns: false when there was no such upload.
    @discardableResult
    public func cancelUpload(_ id: UploadID, in repository: RepositoryName) async throws -> Bool {
        uploads.sessions.withLock { _ = $0.removeValue(forKey: id) }
        let path = StorageLayout.upload(repository, id)
        guard try await driver.stat(path) != nil else { return false }
        try await driver.delete(path)
        return true
    }

    /// Hashes stored bytes with `digest`'s algorithm.
    func hashStored(_ path: StoragePath, like digest: Digest) async throws -> Digest {
        guard var hasher = DigestHasher(for: digest) else {
            throw RegistryError(.digestInvalid, "digest algorithm \(digest.algorithm) is not supported")
        }
        let reader = try await driver.reader(path, offset: 0)
        defer { reader.close() }
        while true {
            let chunk = try await reader.read(maxBytes: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hasher.finalize()
    }
}
