import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    func getManifest(_ name: RepositoryName, reference: ManifestReference, request: HTTPRequest) async throws -> HTTPResponse {
        let route = try mirrorRoute(name, request)
        var (stored, cacheResult) = try await lookUpManifest(reference, in: name, route: route)
        stored = try await negotiate(stored, accepting: request.headers.tokens("accept"), reference: reference,
                                     in: route?.localRepository ?? name, route: route)

        var headers: HTTPHeaders = [
            "Content-Type": stored.mediaType,
            "Docker-Content-Digest": stored.digest.description,
            "ETag": "\"\(stored.digest)\"",
        ]
        var response: HTTPResponse
        if request.headers.matchesETag(of: stored.digest) {
            response = HTTPResponse(status: .notModified, headers: headers)
        } else if request.method == .HEAD {
            headers.add(name: "Content-Length", value: String(stored.bytes.count))
            response = HTTPResponse(status: .ok, headers: headers, body: .headOnly)
        } else {
            response = HTTPResponse(status: .ok, headers: headers, body: .buffer(ByteBuffer(bytes: stored.bytes)))
        }
        response.cacheResult = cacheResult
        response.upstream = route?.registry
        if request.method == .GET && response.status == .ok {
            notifyManifest(.pull, stored, in: name, reference: reference, request: request)
        }
        return response
    }

    /// The manifest from the store, or for a mirrored repository through the mirror (which
    /// serves the kept copy while it is fresh).
    private func lookUpManifest(_ reference: ManifestReference, in name: RepositoryName, route: MirrorRoute?) async throws
        -> (StoredManifest, HTTPResponse.CacheResult) {
        if let mirror, let stream = mirror.imageStream(for: name) {
            let (stored, source) = try await mirror.imageStreamManifest(reference, stream: stream, repository: name)
            return (stored, source == .kept ? .hit : .miss)
        }
        if let mirror, let route {
            let (stored, source) = try await mirror.manifest(reference, route: route)
            switch source {
            case .kept: return (stored, .hit)
            case .upstream: return (stored, .miss)
            case .stale: return (stored, .stale)
            }
        }
        let digest: Digest
        switch reference {
        case .tag(let tag):
            guard let target = try await store.resolve(tag, in: name) else { throw manifestUnknown(reference, name) }
            digest = target
        case .digest(let value):
            digest = value
        }
        guard let stored = try await store.manifest(digest, in: name) else { throw manifestUnknown(reference, name) }
        return (stored, .hit)
    }

    /// Applies the `Accept` header as Distribution does. Stored bytes are never rewritten;
    /// a client that lists no type it could take gets a clear 404 instead.
    private func negotiate(_ stored: StoredManifest, accepting accepted: [String], reference: ManifestReference,
                           in name: RepositoryName, route: MirrorRoute?) async throws -> StoredManifest {
        if accepted.isEmpty || accepted.contains("*/*") || accepted.contains(stored.mediaType) { return stored }
        switch stored.mediaType {
        case MediaType.dockerManifestList:
            // Clients from before manifest lists get the linux/amd64 image, by tag only.
            guard case .tag = reference else { return stored }
            let child = stored.children.first { $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" }
            guard let child, let digest = Digest(child.digest),
                  let manifest = try await lookUpChild(digest, in: name, route: route) else {
                throw RegistryError(.manifestUnknown, "manifest list \(stored.digest) has no linux/amd64 image for a client that does not accept manifest lists")
            }
            guard accepted.contains(manifest.mediaType) else {
                throw RegistryError(.manifestInvalid, "\(reference) is a manifest list of \(manifest.mediaType) images, and the request's Accept header includes neither")
            }
            return manifest
        case MediaType.ociManifest, MediaType.ociIndex:
            throw RegistryError(.manifestUnknown, "\(reference) is a \(stored.mediaType), which the request's Accept header does not include")
        default:
            return stored
        }
    }

    private func lookUpChild(_ digest: Digest, in name: RepositoryName, route: MirrorRoute?) async throws -> StoredManifest? {
        if let mirror, let route { return try? await mirror.manifest(.digest(digest), route: route).0 }
        return try await store.manifest(digest, in: name)
    }

    private func manifestUnknown(_ reference: ManifestReference, _ name: RepositoryName) -> RegistryError {
        let detail: String
        switch reference {
        case .tag(let tag): detail = #"{"tag":\#(JSONText.string(tag.value))}"#
        case .digest(let digest): detail = #"{"digest":"\#(digest)"}"#
        }
        return RegistryError(.manifestUnknown, "manifest \(reference) is not known in \(name)", detailJSON: detail)
    }

    func putManifest(_ name: RepositoryName, reference: ManifestReference, request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        if let length = request.contentLength, length > Int64(Manifest.maximumSize) {
            throw manifestTooLarge()
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: Manifest.maximumSize)
        } catch let error as HTTPServerError where error == .bodyTooLarge {
            throw manifestTooLarge()
        }
        let tag: Tag?, expected: Digest?
        switch reference {
        case .tag(let value): (tag, expected) = (value, nil)
        case .digest(let value): (tag, expected) = (nil, value)
        }
        try refuseSchema2IntoImageStream(name, bytes: Array(buffer.readableBytesView), contentType: request.headers.first(name: "content-type"))
        let (stored, manifest) = try await store.putManifest(Array(buffer.readableBytesView), contentType: request.headers.first(name: "content-type"),
                                                             in: name, tag: tag, expectedDigest: expected)
        var headers: HTTPHeaders = [
            "Location": "/v2/\(name)/manifests/\(stored.digest)",
            "Docker-Content-Digest": stored.digest.description,
        ]
        if let subject = manifest.subject { headers.add(name: "OCI-Subject", value: subject.digest) }
        notifyManifest(.push, stored, in: name, reference: reference, request: request)
        return HTTPResponse(status: .created, headers: headers)
    }

    private func manifestTooLarge() -> RegistryError {
        RegistryError(.manifestTooLarge, "manifest is larger than the \(Manifest.maximumSize)-byte limit")
    }

    func deleteManifest(_ name: RepositoryName, reference: ManifestReference, request: HTTPRequest) async throws -> HTTPResponse {
        try requireDeleteEnabled()
        switch reference {
        case .tag(let tag):
            guard try await store.deleteTag(tag, in: name) else { throw manifestUnknown(reference, name) }
            notifyDelete(in: name, tag: tag, request: request)
        case .digest(let digest):
            guard try await store.deleteManifest(digest, in: name) else { throw manifestUnknown(reference, name) }
            notifyDelete(in: name, digest: digest, request: request)
        }
        return HTTPResponse(status: .accepted)
    }
}
