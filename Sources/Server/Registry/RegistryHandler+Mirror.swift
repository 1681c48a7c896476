import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    /// The upstream a repository's content comes from, if the mirror serves it.
    func mirrorRoute(_ name: RepositoryName, _ request: HTTPRequest) -> MirrorRoute? {
        mirror?.route(name, namespace: request.queryValue("ns"))
    }

    /// A blob the repository does not have locally: asked upstream (HEAD), linked once the
    /// route's upstream confirms it, or read live from its one fill.
    func getMirroredBlob(_ digest: Digest, route: MirrorRoute, request: HTTPRequest) async throws -> HTTPResponse {
        guard let mirror else { throw blobUnknown(digest, route.localRepository) }
        if request.method == .HEAD, try await store.blobSize(digest) == nil {
            let size = try await mirror.headBlob(digest, route: route)
            var headers = blobHeaders(digest)
            headers.add(name: "Content-Length", value: String(size))
            return HTTPResponse(status: .ok, headers: headers, body: .headOnly)
        }
        switch try await mirror.blob(digest, route: route) {
        case .stored(let size):
            return try await serveStoredBlob(digest, size: size, request: request)
        case .filling(let fill):
            return try await serveFilling(fill, request: request)
        }
    }

    /// Streams a blob from its staging file as the upstream delivers it.
    private func serveFilling(_ fill: BlobFill, request: HTTPRequest) async throws -> HTTPResponse {
        let size = try await fill.size()
        var headers = blobHeaders(fill.digest)
        let (status, range) = try resolveRange(request, size: size, headers: &headers)
        guard request.method != .HEAD, range.length > 0 else {
            headers.add(name: "Content-Length", value: String(max(0, range.length)))
            return HTTPResponse(status: status, headers: headers, body: .headOnly)
        }
        return HTTPResponse(status: status, headers: headers, body: .stream(length: range.length) { writer in
            var offset = range.start
            let end = range.end + 1
            while offset < end {
                let available = min(try await fill.waitForBytes(beyond: offset), end)
                var buffer = ByteBuffer()
                let want = Int(min(available - offset, 1 << 20))
                let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
                    try fill.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: pointer[0..<want]))
                }
                guard count > 0 else { throw RegistryError(.unknown, "staging file for \(fill.digest) ended early") }
                try await writer.write(buffer)
                offset += Int64(count)
            }
        })
    }
}
