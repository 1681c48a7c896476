import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    /// POST `/v2/<name>/blobs/uploads/`: a cross-repository mount, a monolithic upload
    /// (`?digest=`), or a new session.
    func startUpload(_ name: RepositoryName, request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        if let mount = request.queryValue("mount") {
            let digest = try parseDigest(mount)
            // Only from a repository that references the blob: never by digest alone.
            // A mirrored `from` is read where its content is stored (`alpine` as `library/alpine`).
            if let fromText = request.queryValue("from"), let from = RepositoryName(fromText).map(storedRepository),
               try await store.isLinked(digest, in: from), let size = try await store.blobSize(digest) {
                try await store.link(digest, into: name)
                try await store.markPushed(digest)
                notifyBlob(.mount, digest, size: size, in: name, from: from, request: request)
                return HTTPResponse(status: .created, headers: [
                    "Location": "/v2/\(name)/blobs/\(digest)",
                    "Docker-Content-Digest": digest.description,
                ])
            }
        } else if let digestText = request.queryValue("digest") {
            let digest = try parseDigest(digestText)
            let id = try await store.startUpload(in: name)
            do {
                try await append(body, to: try await store.appendToUpload(id, in: name, start: 0))
                let existed = try await store.blobSize(digest) != nil
                let size = try await store.completeUpload(id, in: name, digest: digest)
                try await store.markPrivate(digest, fetchedFrom: nil, existedBefore: existed)
                notifyBlob(.push, digest, size: size, in: name, request: request)
            } catch {
                _ = try? await store.cancelUpload(id, in: name)
                throw error
            }
            return HTTPResponse(status: .created, headers: [
                "Location": "/v2/\(name)/blobs/\(digest)",
                "Docker-Content-Digest": digest.description,
            ])
        }
        let id = try await store.startUpload(in: name)
        return HTTPResponse(status: .accepted, headers: uploadHeaders(name, id, size: 0))
    }

    func uploadStatus(_ name: RepositoryName, id: UploadID) async throws -> HTTPResponse {
        guard let size = try await store.uploadSize(id, in: name) else { throw uploadUnknown(id, name) }
        return HTTPResponse(status: .noContent, headers: uploadHeaders(name, id, size: size))
    }

    func patchUpload(_ name: RepositoryName, id: UploadID, request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        let range = try Self.contentRange(request)
        let appender = try await store.appendToUpload(id, in: name, start: range?.start)
        try await append(body, to: appender)
        return HTTPResponse(status: .accepted, headers: uploadHeaders(name, id, size: appender.size))
    }

    func completeUpload(_ name: RepositoryName, id: UploadID, request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        guard let digestText = request.queryValue("digest") else {
            throw RegistryError(.digestInvalid, "completing an upload needs ?digest=<digest>")
        }
        let digest = try parseDigest(digestText)
        let range = try Self.contentRange(request)
        if range != nil || (request.contentLength ?? 0) > 0 || request.headers["transfer-encoding"].contains("chunked") {
            try await append(body, to: try await store.appendToUpload(id, in: name, start: range?.start))
        }
        // Pushed bytes are private: no upstream's word links them into a mirrored repository.
        let existed = try await store.blobSize(digest) != nil
        let size = try await store.completeUpload(id, in: name, digest: digest)
        try await store.markPrivate(digest, fetchedFrom: nil, existedBefore: existed)
        notifyBlob(.push, digest, size: size, in: name, request: request)
        return HTTPResponse(status: .created, headers: [
            "Location": "/v2/\(name)/blobs/\(digest)",
            "Docker-Content-Digest": digest.description,
        ])
    }

    func cancelUpload(_ name: RepositoryName, id: UploadID) async throws -> HTTPResponse {
        guard try await store.cancelUpload(id, in: name) else { throw uploadUnknown(id, name) }
        return HTTPResponse(status: .noContent)
    }

    /// Streams the request body into the upload, hashing on the way.
    private func append(_ body: RequestBody, to appender: UploadAppender) async throws {
        do {
            while let chunk = try await body.next() {
                try chunk.withUnsafeReadableBytes { try appender.write($0) }
            }
            try await appender.finish()
        } catch {
            await appender.abort()
            throw error
        }
    }

    /// `Content-Range: <start>-<end>` of a chunk (the OCI form, with no unit), checked
    /// against `Content-Length`. Static and internal so the fuzzer (Fuzz/) can reach it.
    static func contentRange(_ request: HTTPRequest) throws -> (start: Int64, end: Int64)? {
        guard var text = request.headers.first(name: "content-range").map({ Substring($0).trimmingWhitespace() }) else { return nil }
        if text.hasPrefix("bytes ") { text = text.dropFirst(6) }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }), let start = Int64(bounds[0]), let end = Int64(bounds[1]), start >= 0, end >= start else {
            throw RegistryError(.rangeInvalid, "Content-Range \"\(text)\" is not <start>-<end>")
        }
        // A chunk of Int64.max + 1 bytes or more can never be stored: the range itself is unsatisfiable.
        let (length, overflow) = (end - start).addingReportingOverflow(1)
        guard !overflow else {
            throw RegistryError(.rangeInvalid, "Content-Range \(start)-\(end) is larger than any upload can be")
        }
        if let declared = request.contentLength, declared != length {
            throw RegistryError(.sizeInvalid, "Content-Length \(declared) does not match Content-Range \(start)-\(end)")
        }
        return (start, end)
    }

    private func uploadHeaders(_ name: RepositoryName, _ id: UploadID, size: Int64) -> HTTPHeaders {
        [
            "Location": "/v2/\(name)/blobs/uploads/\(id)",
            "Range": size == 0 ? "0-0" : "0-\(size - 1)",
            "Docker-Upload-UUID": id.value,
        ]
    }

    private func uploadUnknown(_ id: UploadID, _ name: RepositoryName) -> RegistryError {
        RegistryError(.blobUploadUnknown, "upload \(id) is not known in \(name)")
    }
}
