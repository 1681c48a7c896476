import Logging
import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

/// The OCI Distribution API over a `ContentStore`.
public struct RegistryHandler: HTTPHandler {
    public struct Settings: Sendable {
        public var deleteEnabled = false
        public var readOnly = false
        public var catalogMaxEntries = 1000
        /// Blobs up to this size are kept in memory once read.
        public var smallBlobLimit = 64 << 10
        /// `storage.redirect.disable`: never redirect blob downloads.
        public var redirectDisabled = false
        /// `openshift.imagestreams.admintoken`: the bearer token of the ImageStream API; nil turns it off.
        public var imageStreamAdminToken: String?
        /// OpenShift's `acceptschema2`: false refuses Docker schema 2 manifests (and manifest lists)
        /// pushed into a repository that has an ImageStream.
        public var acceptSchema2 = true

        public init() {}
    }

    let store: ContentStore
    let settings: Settings
    /// Pull-through from upstream registries; nil when Wharf serves only what it holds.
    let mirror: PullThrough?
    let cdn: CDNSettings
    /// Client authentication and roles (`auth:`); nil for an open registry.
    let access: AccessControl?
    /// Registry events for `notifications` endpoints; nil when none are configured.
    let events: RegistryEvents?
    let logger: Logger
    /// Bytes of small blobs, so hot small GETs never open a file.
    let smallBlobs = BoundedCache<Digest, ByteBuffer>(capacity: 64 << 20)

    public init(store: ContentStore, settings: Settings, mirror: PullThrough? = nil, cdn: CDNSettings = CDNSettings(),
                access: AccessControl? = nil, events: RegistryEvents? = nil, logger: Logger = Logger(label: "wharf")) {
        self.store = store
        self.settings = settings
        self.mirror = mirror
        self.cdn = cdn
        self.access = access
        self.events = events
        self.logger = logger
    }

    public func handle(_ request: HTTPRequest, body: RequestBody, logger: Logger) async -> HTTPResponse {
        do {
            return try await route(request, body: body)
        } catch let error as RegistryError {
            return error.response(includeBody: request.method != .HEAD)
        } catch let error as StorageError where error.code == .noSpace {
            logger.error("storage is full", metadata: ["error": "\(error)"])
            return RegistryError(.unavailable, "the registry's storage is full", status: 507)
                .response(includeBody: request.method != .HEAD)
        } catch let error as HTTPServerError where error == .bodyTooLarge {
            return RegistryError(.sizeInvalid, "request body too large", status: 413).response()
        } catch {
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.path)", "error": "\(error)"])
            return RegistryError(.unknown, "internal error; the registry's log has the details")
                .response(includeBody: request.method != .HEAD)
        }
    }

    /// With client auth, a `/v2/` request without valid credentials or permission is answered
    /// (401/403) before it may take a request-limit slot; `route` checks again, from the caches.
    public func admit(_ request: HTTPRequest) async -> HTTPResponse? {
        guard let access, request.path.hasPrefix("/v2/") || request.path == "/v2",
              case .success(let route) = RegistryRoute.parse(request.path) else { return nil }
        do {
            _ = try await access.authorize(request, route: route, resolve: resolver(for: request), resolveStored: resolver(for: nil))
            return nil
        } catch let error as RegistryError {
            return error.response(includeBody: request.method != .HEAD)
        } catch {
            return nil  // anything else is `handle`'s to report
        }
    }

    private func route(_ request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        var request = request
        switch request.path {
        case "/healthz":
            // Liveness: the process answers. Never behind auth or request limits.
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: .buffer(ByteBuffer(string: "ok\n")))
        case "/readyz":
            return await readiness()
        default:
            break
        }
        if request.path.hasPrefix(Self.imageStreamAPIPrefix) {
            return try await imageStreamAPI(request, body: body)
        }
        if request.path.hasPrefix(CDNSettings.blobPathPrefix) {
            return try await serveSignedBlob(request)
        }
        if let access, access.isTokenEndpoint(request.path) {
            return try await access.tokenEndpoint(request, body: body, resolve: resolver(for: nil))
        }
        let route: RegistryRoute
        switch RegistryRoute.parse(request.path) {
        case .success(let parsed): route = parsed
        case .failure(.invalidName(let name)):
            throw RegistryError(.nameInvalid, "invalid repository name \"\(name)\"",
                                detailJSON: #"{"name":\#(JSONText.string(name))}"#)
        case .failure(.notFound):
            throw RegistryError(.unsupported, "no such API endpoint: \(request.method) \(request.path)", status: 404)
        }
        var catalogFilter: (@Sendable (RepositoryName) -> Bool)?
        if let access {
            let decision = try await access.authorize(request, route: route, resolve: resolver(for: request), resolveStored: resolver(for: nil))
            request = decision.request
            catalogFilter = { decision.mayList($0) }
        }
        let method = request.method
        if settings.readOnly, [.PUT, .POST, .PATCH, .DELETE].contains(method) {
            throw RegistryError(.unsupported, "the registry is in read-only mode")
        }
        try refuseWritesToMirrored(route, request)
        switch (route, method) {
        case (.base, .GET), (.base, .HEAD):
            return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"],
                                body: method == .HEAD ? .headOnly : .buffer(ByteBuffer(string: "{}")))
        case (.catalog, .GET):
            return try await catalog(request, visible: catalogFilter)
        case (.manifest(let name, let reference), .GET), (.manifest(let name, let reference), .HEAD):
            return try await getManifest(name, reference: try parseReference(reference), request: request)
        case (.manifest(let name, let reference), .PUT):
            return try await putManifest(name, reference: try parseReference(reference), request: request, body: body)
        case (.manifest(let name, let reference), .DELETE):
            return try await deleteManifest(name, reference: try parseReference(reference), request: request)
        case (.blob(let name, let digest), .GET), (.blob(let name, let digest), .HEAD):
            return try await getBlob(name, digest: try parseDigest(digest), request: request)
        case (.blob(let name, let digest), .DELETE):
            return try await deleteBlob(name, digest: try parseDigest(digest), request: request)
        case (.uploads(let name), .POST):
            return try await startUpload(name, request: request, body: body)
        case (.upload(let name, let id), .GET):
            return try await uploadStatus(name, id: try parseUploadID(id))
        case (.upload(let name, let id), .PATCH):
            return try await patchUpload(name, id: try parseUploadID(id), request: request, body: body)
        case (.upload(let name, let id), .PUT):
            return try await completeUpload(name, id: try parseUploadID(id), request: request, body: body)
        case (.upload(let name, let id), .DELETE):
            return try await cancelUpload(name, id: try parseUploadID(id))
        case (.tags(let name), .GET):
            return try await listTags(name, request: request)
        case (.referrers(let name, let digest), .GET):
            return try await referrers(name, digest: try parseDigest(digest), request: request)
        default:
            throw RegistryError(.unsupported, "\(method) is not supported on this endpoint")
        }
    }

    /// Readiness: the configuration was loaded (else the process would not be serving) and
    /// the storage takes a write.
    private func readiness() async -> HTTPResponse {
        let probe = StoragePath([".wharf-ready-check"])
        do {
            try await store.driver.putContent(probe, Array("ready".utf8))
            try await store.driver.delete(probe)
            return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"],
                                body: .buffer(ByteBuffer(string: #"{"status":"ready","configuration":"loaded","storage":"writable"}"# + "\n")))
        } catch {
            logger.warning("not ready: storage is not writable", metadata: ["error": "\(error)"])
            let reason = (error as? StorageError)?.code.description ?? "io"
            return HTTPResponse(status: .serviceUnavailable, headers: ["Content-Type": "application/json"],
                                body: .buffer(ByteBuffer(string: #"{"status":"not ready","configuration":"loaded","storage":"\#(reason)"}"# + "\n")))
        }
    }

    // MARK: Parsing request parts

    func parseDigest(_ text: String) throws -> Digest {
        guard let digest = Digest(text) else {
            throw RegistryError(.digestInvalid, "invalid digest \"\(text)\"", detailJSON: #"{"digest":\#(JSONText.string(text))}"#)
        }
        return digest
    }

    func parseReference(_ text: String) throws -> ManifestReference {
        if text.contains(":") { return .digest(try parseDigest(text)) }
        guard let tag = Tag(text) else {
            throw RegistryError(.tagInvalid, "invalid tag \"\(text)\"", detailJSON: #"{"tag":\#(JSONText.string(text))}"#)
        }
        return .tag(tag)
    }

    func parseUploadID(_ text: String) throws -> UploadID {
        guard let id = UploadID(text) else { throw RegistryError(.blobUploadUnknown, "unknown upload \"\(text)\"") }
        return id
    }

    func requireDeleteEnabled() throws {
        guard settings.deleteEnabled else {
            throw RegistryError(.unsupported, "deletes are disabled (storage.delete.enabled is false)")
        }
    }
}

extension HTTPHeaders {
    /// Every value of `name`, comma-separated lists split, parameters dropped.
    func tokens(_ name: String) -> [String] {
        self[name].flatMap { $0.split(separator: ",") }.map { Manifest.stripParameters(String($0)) }
    }

    /// True when an `If-None-Match` header names `digest` (quoted or bare).
    func matchesETag(of digest: Digest) -> Bool {
        self["if-none-match"].flatMap { $0.split(separator: ",") }.contains { raw in
            var tag = raw.trimmingWhitespace()
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag.hasPrefix("\"") && tag.hasSuffix("\"") && tag.count >= 2 { tag = tag.dropFirst().dropLast() }
            return tag == digest.description || tag == "*"
        }
    }
}
