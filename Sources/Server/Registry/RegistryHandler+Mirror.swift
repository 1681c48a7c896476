import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    /// The upstream a repository's content comes from, if the mirror serves it. Nil for a
    /// repository with an ImageStream: that has candidates, not one route.
    func mirrorRoute(_ name: RepositoryName, _ request: HTTPRequest) throws -> MirrorRoute? {
        if mirror?.imageStream(for: name) != nil { return nil }
        return try mirror?.route(name, namespace: request.queryValue("ns"))
    }

    /// A blob the repository does not have locally: asked upstream (HEAD), linked once the
    /// route's upstream confirms it, or read live from its one fill.
    func getMirroredBlob(_ digest: Digest, route: MirrorRoute, request: HTTPRequest) async throws -> HTTPResponse {
        guard let mirror else { throw blobUnknown(digest, route.localRepository) }
        // A HEAD of a blob not stored, or not this route's to reuse, is the upstream's answer alone.
        var upstreamsWordOnly = false
        if request.method == .HEAD {
            upstreamsWordOnly = try await store.blobSize(digest) == nil
            if !upstreamsWordOnly { upstreamsWordOnly = try await !mirror.mayConfirm(digest, route: route) }
        }
        if upstreamsWordOnly {
            let size = try await mirror.headBlob(digest, route: route)
            var headers = blobHeaders(digest)
            headers.add(name: "Content-Length", value: String(size))
            var response = HTTPResponse(status: .ok, headers: headers, body: .headOnly)
            response.cacheResult = .miss
            response.upstream = route.registry
            return response
        }
        var response: HTTPResponse
        switch try await mirror.blob(digest, route: route) {
        case .stored(let size):
            response = try await serveStoredBlob(digest, size: size, request: request)
        case .filling(let fill, let joined):
            response = try await serveFilling(fill, request: request)
            response.cacheResult = joined ? .join : .miss
        }
        response.upstream = route.registry
        return response
    }

    /// Streams a blob from its staging file as the upstream delivers it.
    func serveFilling(_ fill: BlobFill, request: HTTPRequest) async throws -> HTTPResponse {
        let size = try await fill.size()
        var headers = blobHeaders(fill.digest)
        let (status, range) = try resolveRange(request, size: size, headers: &headers)
        guard request.method != .HEAD, range.length > 0 else {
            headers.add(name: "Content-Length", value: String(max(0, range.length)))
            return HTTPResponse(status: status, headers: headers, body: .headOnly)
        }
        // A body that reaches the blob's end keeps its last byte until the digest is verified:
        // if it does not match, the connection closes one byte short, and no client can take a
        // wrong blob for a whole one.
        let holdsLastByte = range.end == size - 1
        return HTTPResponse(status: status, headers: headers, body: .stream(length: range.length) { writer in
            var offset = range.start
            let end = holdsLastByte ? range.end : range.end + 1
            while offset < end {
                // `sendfile` whatever has landed: no copy, no buffer; the socket's own
                // backpressure paces this client without slowing the fill or anyone else.
                let available = min(try await fill.waitForBytes(beyond: offset), end)
                let length = min(available - offset, 8 << 20)
                try await writer.writeFile(descriptor: try fill.duplicateReadDescriptor(), offset: offset, length: length)
                offset += length
            }
            if holdsLastByte {
                try await fill.waitUntilVerified()
                try await writer.writeFile(descriptor: try fill.duplicateReadDescriptor(), offset: range.end, length: 1)
            }
        })
    }
}
