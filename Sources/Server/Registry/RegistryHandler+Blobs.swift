import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    func getBlob(_ name: RepositoryName, digest: Digest, request: HTTPRequest) async throws -> HTTPResponse {
        if let mirror, let stream = mirror.imageStream(for: name) {
            return try await getImageStreamBlob(name, digest: digest, stream: stream, mirror: mirror, request: request)
        }
        let route = try mirrorRoute(name, request)
        let response = try await retryingVanishedBlob {
            try await resolveBlob(name, digest: digest, route: route, request: request)
        }
        notifyBlobPull(digest, in: name, response: response, request: request)
        return response
    }

    /// Runs `resolve`, and once more when a stored blob's file vanished under it (removed by a
    /// retention sweep, by hand or by another tool after the store cached its size): the second
    /// time the store knows it is absent, so a mirror fetches it again and a registry answers
    /// BLOB_UNKNOWN, rather than a 500.
    func retryingVanishedBlob(_ resolve: () async throws -> HTTPResponse) async throws -> HTTPResponse {
        do {
            return try await resolve()
        } catch let error as StorageError where error.code == .notFound {
            return try await resolve()
        }
    }

    private func resolveBlob(_ name: RepositoryName, digest: Digest, route: MirrorRoute?, request: HTTPRequest) async throws -> HTTPResponse {
        // A digest is not a password: the repository must reference the blob.
        if try await store.isLinked(digest, in: route?.localRepository ?? name), let size = try await store.blobSize(digest) {
            return try await serveStoredBlob(digest, size: size, request: request)
        }
        guard let route else { throw blobUnknown(digest, name) }
        return try await getMirroredBlob(digest, route: route, request: request)
    }

    func blobUnknown(_ digest: Digest, _ name: RepositoryName) -> RegistryError {
        RegistryError(.blobUnknown, "blob \(digest) is not known in \(name)", detailJSON: #"{"digest":"\#(digest)"}"#)
    }

    func blobHeaders(_ digest: Digest) -> HTTPHeaders {
        [
            "Content-Type": "application/octet-stream",
            "Docker-Content-Digest": digest.description,
            "ETag": "\"\(digest)\"",
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=31536000",
        ]
    }

    /// The status and byte range a `Range` header asks for; adds `Content-Range`.
    /// - Throws: `RANGE_INVALID` (416 with `Content-Range: bytes */size`) when unsatisfiable.
    func resolveRange(_ request: HTTPRequest, size: Int64, headers: inout HTTPHeaders) throws -> (HTTPResponseStatus, ByteRange) {
        switch ByteRange.resolve(request.headers.first(name: "range"), size: size) {
        case .whole:
            return (.ok, ByteRange(start: 0, end: size - 1))
        case .partial(let partial):
            headers.add(name: "Content-Range", value: "bytes \(partial.start)-\(partial.end)/\(size)")
            return (.partialContent, partial)
        case .unsatisfiable:
            throw RegistryError(.rangeInvalid, "range \(request.headers.first(name: "range") ?? "") cannot be satisfied for a blob of \(size) bytes",
                                headers: [("Content-Range", "bytes */\(size)")])
        }
    }

    func serveStoredBlob(_ digest: Digest, size: Int64, request: HTTPRequest, mayRedirect: Bool = true) async throws -> HTTPResponse {
        // A GET keeps a cached blob from being the next a retention sweep removes; a HEAD does not.
        if request.method == .GET { await store.noteUse(digest) }
        if mayRedirect, var redirect = cdnRedirect(digest, request: request) {
            redirect.cacheResult = .redirect
            return redirect
        }
        var response = try await storedBlobResponse(digest, size: size, request: request)
        response.cacheResult = .hit
        return response
    }

    private func storedBlobResponse(_ digest: Digest, size: Int64, request: HTTPRequest) async throws -> HTTPResponse {
        var headers = blobHeaders(digest)
        if request.headers.matchesETag(of: digest) {
            return HTTPResponse(status: .notModified, headers: headers)
        }
        let (status, range) = try resolveRange(request, size: size, headers: &headers)
        if request.method == .HEAD || range.length <= 0 {
            headers.add(name: "Content-Length", value: String(max(0, range.length)))
            return HTTPResponse(status: status, headers: headers, body: .headOnly)
        }
        if size <= settings.smallBlobLimit {
            let bytes = try await smallBlob(digest)
            return HTTPResponse(status: status, headers: headers,
                                body: .buffer(bytes.getSlice(at: Int(range.start), length: Int(range.length)) ?? bytes))
        }
        let reader = try await store.openBlob(digest)
        guard let descriptor = reader.takeFileDescriptor() else {
            reader.close()
            throw RegistryError(.unknown, "storage cannot hand out a file for \(digest)")
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        return HTTPResponse(status: status, headers: headers, body: .file(handle, offset: range.start, length: range.length))
    }

    private func smallBlob(_ digest: Digest) async throws -> ByteBuffer {
        if let cached = smallBlobs[digest] { return cached }
        let reader = try await store.openBlob(digest)
        defer { reader.close() }
        var buffer = ByteBuffer()
        while true {
            let chunk = try await reader.read(maxBytes: settings.smallBlobLimit)
            if chunk.isEmpty { break }
            buffer.writeBytes(chunk)
        }
        smallBlobs.insert(buffer, for: digest, cost: buffer.readableBytes + 64)
        return buffer
    }

    func deleteBlob(_ name: RepositoryName, digest: Digest, request: HTTPRequest) async throws -> HTTPResponse {
        try requireDeleteEnabled()
        guard try await store.unlink(digest, from: name) else { throw blobUnknown(digest, name) }
        notifyDelete(in: name, digest: digest, request: request)
        return HTTPResponse(status: .accepted, headers: ["Docker-Content-Digest": digest.description])
    }
}
