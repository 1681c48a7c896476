import Foundation
import HTTPClient
import OCI

/// How to reach one upstream registry.
public struct RegistryClientConfiguration: Sendable {
    /// `host[:port]` as users write it; `docker.io` is sent to `registry-1.docker.io`.
    public var registry: String
    public var credentials: Credentials?
    /// Listed insecure: TLS verification off, and plain HTTP allowed after HTTPS failed.
    public var insecure: Bool = false
    /// The scheme the registry is known to speak (a `proxy.remoteurl`'s): it is the only one
    /// tried. Nil: discover it (`SchemePolicy.candidates`).
    public var scheme: String?
    public var timeouts: HTTPTimeouts = HTTPTimeouts()
    /// Which addresses requests may connect to (nil: any). The mirror refuses loopback, link-local,
    /// private and unspecified addresses except for the registries an operator listed.
    public var addressRule: AddressRule?
    /// Also exempt the token realm this registry's own 401 names from `addressRule` (a listed
    /// registry's token server often sits next to it).
    public var exemptRealmAddresses = false
    /// Extra check of each redirect hop (the registry policy). Whatever it says, a hop must be
    /// `https`, or `http` when the registry is listed insecure.
    public var redirectRule: (@Sendable (RedirectHop) -> String?)?
    /// Redirect hops followed per request at most.
    public var maxRedirects = 5
    /// The clock token expiry is measured with.
    public var now: @Sendable () -> Date = { Date() }

    public init(registry: String, credentials: Credentials? = nil, insecure: Bool = false) {
        self.registry = registry
        self.credentials = credentials
        self.insecure = insecure
    }
}

/// Where the registry answered, and how it asked to be authenticated.
public struct RegistryEndpoint: Sendable {
    /// `https://host:port` or `http://host:port`.
    public var baseURL: String
    public var tls: TLSOptions
    /// The challenge of `GET /v2/` (Bearer preferred over Basic); nil when it answered 200.
    public var challenge: AuthChallenge?
    public var pingStatus: Int
    public var httpVersion: String
    /// Candidates that failed before this one, with why (for diagnostics).
    public var fallbacks: [String]
    /// The `Docker-Distribution-API-Version` header, if sent.
    public var apiVersion: String?
}

/// What a token request asked for and got, without the token itself.
public struct TokenGrantInfo: Sendable {
    public var realm: String
    public var service: String?
    public var scope: String
    public var username: String?
    public var expiresIn: Int?
    public var issuedAt: Date?
}

/// A fetched manifest.
public struct ManifestResult: Sendable {
    public var status: Int
    /// Verified: the body hashes to it (and to the requested digest, when fetched by digest).
    public var digest: Digest
    public var mediaType: String?
    public var size: Int
    public var body: [UInt8]
    /// `Docker-Content-Digest` as sent, if sent.
    public var headerDigest: Digest?
}

/// Headers of a manifest or blob HEAD.
public struct DescriptorInfo: Sendable {
    public var status: Int
    public var digest: Digest?
    public var mediaType: String?
    public var size: Int64?
}

/// A blob (or a range of it) written to a file descriptor.
public struct BlobResult: Sendable {
    /// 200 for the whole blob, 206 for a range.
    public var status: Int
    public var bytesWritten: Int64
    /// Digest of the bytes written (for a 200, verified against the requested digest).
    public var computedDigest: Digest?
    public var headerDigest: Digest?
    /// Size of the whole blob (`Content-Range` total or `Content-Length`).
    public var totalSize: Int64?
    public var mediaType: String?
}

/// A client of one upstream registry: ping and scheme choice, Bearer/Basic auth with a token cache,
/// manifest and blob GET/HEAD (blob ranges too).
public actor RegistryClient {
    public nonisolated let configuration: RegistryClientConfiguration
    /// The host API requests go to.
    public nonisolated let apiHost: String
    private let http: HTTPClient
    private var endpoint: RegistryEndpoint?
    private var endpointTask: Task<RegistryEndpoint, any Error>?
    private var tokens = TokenCache()
    private var tokenTasks: [TokenCache.Key: Task<String, any Error>] = [:]
    /// Token requests sent so far (tests and diagnostics).
    public private(set) var tokenRequests = 0
    public private(set) var lastGrant: TokenGrantInfo?

    public init(configuration: RegistryClientConfiguration, http: HTTPClient) {
        self.configuration = configuration
        self.apiHost = DockerHub.apiHost(for: configuration.registry)
        self.http = http
    }

    /// Applies the per-registry connection rules to a request about to be sent.
    private func guarded(_ request: HTTPRequest) -> HTTPRequest {
        var r = request
        r.timeouts = configuration.timeouts
        r.addressRule = configuration.addressRule
        r.maxRedirects = configuration.maxRedirects
        // Plain http only for a registry listed insecure.
        r.redirectSchemes = configuration.insecure ? ["https", "http"] : ["https"]
        r.redirectRule = configuration.redirectRule
        return r
    }

    /// Whether a response came from the registry itself, not from a host a redirect led to:
    /// only then may its challenge name a token realm that gets credentials.
    private func isFromRegistry(_ head: HTTPResponseHead, base: String) -> Bool {
        guard let answered = URL(string: head.url), let expected = URL(string: base) else { return false }
        let port: (URL) -> Int = { $0.port ?? ($0.scheme?.lowercased() == "https" ? 443 : 80) }
        return answered.host?.lowercased() == expected.host?.lowercased() && port(answered) == port(expected)
    }

    // MARK: Endpoint

    /// Finds the scheme the registry answers on (`GET /v2/`) and its auth challenge; cached.
    public func ping() async throws(UpstreamError) -> RegistryEndpoint {
        if let endpoint { return endpoint }
        let task: Task<RegistryEndpoint, any Error>
        if let running = endpointTask {
            task = running
        } else {
            task = Task { try await self.discoverEndpoint() }
            endpointTask = task
        }
        do {
            let found = try await task.value
            endpoint = found
            return found
        } catch {
            endpointTask = nil
            throw asUpstream(error)
        }
    }

    private func discoverEndpoint() async throws(UpstreamError) -> RegistryEndpoint {
        var fallbacks: [String] = []
        let candidates = SchemePolicy.candidates(registryHost: apiHost, insecure: configuration.insecure, scheme: configuration.scheme)
        for (index, candidate) in candidates.enumerated() {
            let base = "\(candidate.scheme)://\(apiHost)"
            var request = guarded(HTTPRequest(.get, url: base + "/v2/"))
            request.tls = TLSOptions(verifyPeer: candidate.verifyTLS)
            do {
                let response = try await http.execute(request, maxBodySize: 64 * 1024)
                if response.status >= 500 {
                    throw UpstreamError(.unavailable, "GET \(base)/v2/ answered \(response.status)", registry: configuration.registry, status: response.status)
                }
                var challenge: AuthChallenge?
                if response.status == 401, !isFromRegistry(response.head, base: base) {
                    throw UpstreamError(.invalidResponse, "GET \(base)/v2/ was redirected to \(response.head.url), which asked for authentication: credentials go to the registry's own realm only",
                                        registry: configuration.registry, status: 401)
                }
                if response.status == 401 {
                    let all = response.head.headers.values("WWW-Authenticate").flatMap(AuthChallenge.parse)
                    challenge = all.first(where: \.isBearer) ?? all.first(where: \.isBasic) ?? all.first
                }
                return RegistryEndpoint(baseURL: base, tls: request.tls, challenge: challenge, pingStatus: response.status,
                                        httpVersion: response.head.httpVersion, fallbacks: fallbacks,
                                        apiVersion: response.head.headers["Docker-Distribution-API-Version"])
            } catch let error as HTTPClientError {
                let isLast = index == candidates.count - 1
                if !isLast && SchemePolicy.fallsBack(after: error, insecure: configuration.insecure) {
                    fallbacks.append("\(candidate): \(error.message)")
                    continue
                }
                throw transportError(error, url: base)
            } catch {
                throw asUpstream(error)
            }
        }
        throw UpstreamError(.connect, "no scheme to try", registry: configuration.registry)
    }

    // MARK: Tokens

    /// A token for `scope` from the cache, or from the token server (one request at a time per scope).
    public func bearerToken(scope: String, challenge: AuthChallenge, forceRefresh: Bool = false) async throws(UpstreamError) -> String {
        let key = TokenCache.Key(registry: apiHost, scope: scope)
        if forceRefresh {
            tokens.invalidate(key)
        } else if let token = tokens.token(for: key, now: configuration.now()) {
            return token
        }
        if let running = tokenTasks[key] {
            do { return try await running.value } catch { throw asUpstream(error) }
        }
        let task = Task { try await self.requestToken(scope: scope, challenge: challenge) }
        tokenTasks[key] = task
        defer { tokenTasks[key] = nil }
        do {
            return try await task.value
        } catch {
            throw asUpstream(error)
        }
    }

    private func requestToken(scope: String, challenge: AuthChallenge) async throws(UpstreamError) -> String {
        guard let realm = challenge.realm, !realm.isEmpty else {
            throw UpstreamError(.invalidResponse, "the Bearer challenge has no realm", registry: configuration.registry)
        }
        guard let realmURL = URL(string: realm), let realmScheme = realmURL.scheme?.lowercased(), let realmHost = realmURL.host,
              realmScheme == "https" || realmScheme == "http" else {
            throw UpstreamError(.invalidResponse, "the Bearer challenge's realm \(realm) is not an http(s) URL", registry: configuration.registry)
        }
        // Plain HTTP carries credentials only for a registry listed insecure, or from a registry
        // spoken to over plain HTTP on loopback to a realm on loopback (nothing leaves the machine,
        // and the registry itself already gets them in the clear).
        let plainLoopback = endpoint?.baseURL.hasPrefix("http://") == true && SchemePolicy.isLoopback(apiHost)
            && SchemePolicy.isLoopback(realmHost)
        if realmScheme == "http", configuration.credentials != nil, !configuration.insecure, !plainLoopback {
            throw UpstreamError(.tls, "the token realm \(realm) is plain HTTP: credentials are not sent there (list the registry insecure to allow it)",
                                registry: configuration.registry)
        }
        var query: [(String, String)] = []
        if let service = challenge.service { query.append(("service", service)) }
        for s in scope.split(separator: " ") { query.append(("scope", String(s))) }
        if let user = configuration.credentials?.username { query.append(("account", user)) }
        let separator = realm.contains("?") ? "&" : "?"
        let url = realm + (query.isEmpty ? "" : separator + query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&"))
        var request = guarded(HTTPRequest(.get, url: url))
        if configuration.exemptRealmAddresses, var rule = request.addressRule {
            let port = realmURL.port.map { ":\($0)" } ?? ""
            rule.exemptHosts.insert(realmHost.lowercased() + port)
            request.addressRule = rule
        }
        if configuration.insecure, let realmHost = URL(string: realm)?.host, SchemePolicy.hostOnly(apiHost) == realmHost {
            request.tls = .insecure
        }
        if let credentials = configuration.credentials {
            request.headers.set("Authorization", credentials.basicAuthorization)
        }
        tokenRequests += 1
        let response: HTTPResponse
        do { response = try await http.execute(request, maxBodySize: Self.maximumTokenResponseSize) } catch {
            throw transportError(error, url: realm, what: "token server")
        }
        guard response.status == 200 else {
            let who = configuration.credentials.map { "the credentials of user \($0.username)" } ?? "anonymous access"
            switch response.status {
            case 401:
                throw UpstreamError(.unauthorized, "the token server \(realm) refused \(who) (401)", registry: configuration.registry, status: 401)
            case 403:
                throw UpstreamError(.denied, "the token server \(realm) denied \(who) for scope \(scope) (403)", registry: configuration.registry, status: 403)
            case 429:
                throw UpstreamError(.tooManyRequests, "the token server \(realm) is rate limiting (429)", registry: configuration.registry,
                                    status: 429, retryAfter: Self.retryAfter(response.head))
            default:
                throw UpstreamError(.unavailable, "the token server \(realm) answered \(response.status)", registry: configuration.registry, status: response.status)
            }
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
            var issued_at: String?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)),
              let token = decoded.access_token ?? decoded.token, !token.isEmpty else {
            throw UpstreamError(.invalidResponse, "the token server \(realm) sent no token", registry: configuration.registry)
        }
        let issuedAt = decoded.issued_at.flatMap(Self.parseDate)
        tokens.store(token, for: TokenCache.Key(registry: apiHost, scope: scope), issuedAt: issuedAt,
                     expiresIn: decoded.expires_in, now: configuration.now())
        lastGrant = TokenGrantInfo(realm: realm, service: challenge.service, scope: scope, username: configuration.credentials?.username,
                                   expiresIn: decoded.expires_in, issuedAt: issuedAt)
        return token
    }

    /// Tests: plants a token as if the token server had issued it (to provoke a 401 and the retry).
    func plantToken(_ token: String, scope: String) {
        tokens.store(token, for: TokenCache.Key(registry: apiHost, scope: scope), issuedAt: nil, expiresIn: 300, now: configuration.now())
    }

    /// The `Authorization` value for a request needing `scope`, or nil for anonymous.
    private func authorization(_ challenge: AuthChallenge?, scope: String?, forceRefresh: Bool) async throws(UpstreamError) -> String? {
        guard let challenge else { return nil }
        if challenge.isBearer {
            let s = challenge.scope.flatMap { forceRefresh ? $0 : nil } ?? scope ?? ""
            return "Bearer " + (try await bearerToken(scope: s, challenge: challenge, forceRefresh: forceRefresh))
        }
        if challenge.isBasic, let credentials = configuration.credentials { return credentials.basicAuthorization }
        return nil
    }

    // MARK: Requests

    /// Sends a request built on the endpoint, with auth; on a 401 retries once with a fresh token.
    private func send<T: Sendable>(
        scope: String?, what: String,
        build: (RegistryEndpoint) -> HTTPRequest,
        run: (HTTPRequest) async throws(HTTPClientError) -> (HTTPResponseHead, [UInt8], T)
    ) async throws(UpstreamError) -> (HTTPResponseHead, T) {
        let endpoint = try await ping()
        var challenge = endpoint.challenge
        var refresh = false
        var request = guarded(build(endpoint))
        request.tls = endpoint.tls
        for attempt in 0..<2 {
            if let value = try await authorization(challenge, scope: scope, forceRefresh: refresh) {
                request.headers.set("Authorization", value)
            }
            let result: (HTTPResponseHead, [UInt8], T)
            do { result = try await run(request) } catch { throw transportError(error, url: request.url) }
            let (head, errorBody, value) = result
            if head.status == 401, !isFromRegistry(head, base: endpoint.baseURL) {
                throw UpstreamError(.invalidResponse, "\(what): redirected to \(head.url), which asked for authentication: Wharf authenticates to the registry itself only",
                                    registry: configuration.registry, status: 401)
            }
            if head.status == 401, attempt == 0 {
                let fresh = head.headers.values("WWW-Authenticate").flatMap(AuthChallenge.parse)
                if let next = fresh.first(where: \.isBearer) ?? fresh.first(where: \.isBasic) {
                    challenge = next
                    // A registry that let /v2/ through anonymously: later requests authenticate up front.
                    if self.endpoint?.challenge == nil { self.endpoint?.challenge = next }
                }
                if challenge?.isBearer == true || (challenge?.isBasic == true && request.headers["Authorization"] == nil && configuration.credentials != nil) {
                    refresh = true
                    continue
                }
            }
            guard head.isSuccess else { throw statusError(head, errorBody, what: what) }
            return (head, value)
        }
        throw UpstreamError(.unauthorized, "\(what): still unauthorized after a fresh token", registry: configuration.registry, status: 401)
    }

    private static func pullScope(_ repository: RepositoryName) -> String { "repository:\(repository):pull" }

    /// Bounds on what is read into memory from an upstream: a token response, one tag list page,
    /// and all the pages of one tag list together. Past them the request fails (502 to a client).
    public static let maximumTokenResponseSize = 64 * 1024
    public static let maximumTagPageSize = 4 * 1024 * 1024
    public static let maximumTagListSize = 8 * 1024 * 1024

    /// GET a manifest (by tag or digest) with an Accept of every supported type; the body's digest
    /// is computed and checked against the requested digest and `Docker-Content-Digest`.
    public func manifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws(UpstreamError) -> ManifestResult {
        let what = "manifest \(repository):\(reference)"
        let (head, body) = try await send(scope: Self.pullScope(repository), what: what, build: { endpoint in
            var r = HTTPRequest(.get, url: "\(endpoint.baseURL)/v2/\(repository)/manifests/\(reference)")
            r.headers.set("Accept", MediaType.manifestTypes.joined(separator: ", "))
            return r
        }, run: { r throws(HTTPClientError) in
            let response = try await http.execute(r, maxBodySize: Manifest.maximumSize)
            return (response.head, response.body, response.body)
        })
        let headerDigest = head.headers["Docker-Content-Digest"].flatMap { Digest($0) }
        let algorithm = (headerDigest ?? { if case .digest(let d) = reference { return d } else { return nil } }())
            .flatMap { DigestHasher(for: $0)?.algorithm } ?? .sha256
        var hasher = DigestHasher(algorithm: algorithm)
        hasher.update(body)
        let digest = hasher.finalize()
        if case .digest(let wanted) = reference, wanted != digest {
            throw UpstreamError(.digestMismatch, "\(what): the body hashes to \(digest)", registry: configuration.registry)
        }
        if let headerDigest, headerDigest != digest {
            throw UpstreamError(.digestMismatch, "\(what): Docker-Content-Digest \(headerDigest) but the body hashes to \(digest)", registry: configuration.registry)
        }
        // Nothing is stored or served that Wharf would not accept from a push.
        do {
            _ = try Manifest(bytes: body, declaredType: Self.mediaType(head))
        } catch {
            throw UpstreamError(.invalidResponse, "\(what): the answer is not a manifest Wharf serves: \(error.message)", registry: configuration.registry)
        }
        return ManifestResult(status: head.status, digest: digest, mediaType: Self.mediaType(head), size: body.count, body: body, headerDigest: headerDigest)
    }

    /// HEAD a manifest: digest, media type and size without the body.
    public func headManifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws(UpstreamError) -> DescriptorInfo {
        try await head(scope: Self.pullScope(repository), what: "manifest \(repository):\(reference)") { endpoint in
            var r = HTTPRequest(.head, url: "\(endpoint.baseURL)/v2/\(repository)/manifests/\(reference)")
            r.headers.set("Accept", MediaType.manifestTypes.joined(separator: ", "))
            return r
        }
    }

    /// Every tag of `repository`, following the registry's `Link: <…>; rel="next"` pages (Docker
    /// Hub's hold 100 each) up to `maximumPages`.
    /// - Throws: `notFound` when the repository does not exist upstream; `invalidResponse` when
    ///   the pages do not end within `maximumPages` or lead back to one already read.
    public func tags(_ repository: RepositoryName, maximumPages: Int = 100,
                     maximumBytes: Int = RegistryClient.maximumTagListSize) async throws(UpstreamError) -> [String] {
        var tags: [String] = []
        var bytes = 0
        var path = "/v2/\(repository)/tags/list"
        var seen: Set<String> = []
        for _ in 0..<maximumPages {
            seen.insert(path)
            let current = path
            let (head, body) = try await send(scope: Self.pullScope(repository), what: "tags of \(repository)", build: { endpoint in
                HTTPRequest(.get, url: endpoint.baseURL + current)
            }, run: { r throws(HTTPClientError) in
                let response = try await http.execute(r, maxBodySize: Self.maximumTagPageSize)
                return (response.head, response.body, response.body)
            })
            bytes += body.count
            guard bytes <= maximumBytes else {
                throw UpstreamError(.invalidResponse, "tags of \(repository): the list is over \(maximumBytes) bytes", registry: configuration.registry)
            }
            struct Page: Decodable { var tags: [String]? }
            guard let page = try? JSONDecoder().decode(Page.self, from: Data(body)) else {
                throw UpstreamError(.invalidResponse, "tags of \(repository): the answer is not a tag list", registry: configuration.registry)
            }
            tags += page.tags ?? []
            guard let next = Self.nextPagePath(head.headers.values("Link")) else { return tags }
            guard !seen.contains(next) else {
                throw UpstreamError(.invalidResponse, "tags of \(repository): the pages lead back to \(next)", registry: configuration.registry)
            }
            path = next
        }
        throw UpstreamError(.invalidResponse, "tags of \(repository): more than \(maximumPages) pages", registry: configuration.registry)
    }

    /// The path and query of the `rel="next"` target among `Link` header values (RFC 8288: several
    /// headers, or comma-separated links in one; `rel` quoted or not). Only the path is kept from
    /// an absolute URL, so a page never leads away from the registry.
    static func nextPagePath(_ values: [String]) -> String? {
        for value in values {
            var rest = Substring(value)
            while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
                var target = rest[rest.index(after: open)..<close]
                let parameters = rest[rest.index(after: close)...].prefix { $0 != "<" }
                rest = rest[rest.index(after: close)...]
                let isNext = parameters.split(separator: ";").contains { parameter in
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard pair.count == 2, pair[0].lowercased() == "rel" else { return false }
                    let relations = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
                    return relations.split(separator: " ").contains("next")
                }
                guard isNext else { continue }
                if let scheme = target.range(of: "://") {
                    target = target[scheme.upperBound...]
                    guard let slash = target.firstIndex(of: "/") else { return nil }
                    target = target[slash...]
                }
                return target.hasPrefix("/v2/") ? String(target) : nil
            }
        }
        return nil
    }

    /// Whether the repository exists: `GET /v2/<name>/tags/list?n=1` answers 404 NAME_UNKNOWN when not.
    /// (Distribution answers MANIFEST_UNKNOWN for a manifest in a missing repository, so a manifest
    /// 404 alone cannot tell the two apart.)
    public func repositoryExists(_ repository: RepositoryName) async throws(UpstreamError) -> Bool {
        do {
            _ = try await send(scope: Self.pullScope(repository), what: "tags of \(repository)", build: { endpoint in
                HTTPRequest(.get, url: "\(endpoint.baseURL)/v2/\(repository)/tags/list?n=1")
            }, run: { r throws(HTTPClientError) in
                let response = try await http.execute(r, maxBodySize: 1024 * 1024)
                return (response.head, response.body, ())
            })
            return true
        } catch where error.code == .notFound {
            return false
        }
    }

    /// HEAD a blob.
    public func headBlob(_ repository: RepositoryName, _ digest: Digest) async throws(UpstreamError) -> DescriptorInfo {
        try await head(scope: Self.pullScope(repository), what: "blob \(digest) in \(repository)") { endpoint in
            HTTPRequest(.head, url: "\(endpoint.baseURL)/v2/\(repository)/blobs/\(digest)")
        }
    }

    private func head(scope: String, what: String, build: (RegistryEndpoint) -> HTTPRequest) async throws(UpstreamError) -> DescriptorInfo {
        let (head, _) = try await send(scope: scope, what: what, build: build, run: { r throws(HTTPClientError) in
            let response = try await http.execute(r, maxBodySize: 64 * 1024)
            return (response.head, response.body, ())
        })
        return DescriptorInfo(status: head.status, digest: head.headers["Docker-Content-Digest"].flatMap { Digest($0) },
                              mediaType: Self.mediaType(head), size: head.contentLength)
    }

    /// GETs a blob (or `range` of it, inclusive) into `fd`, hashing as it goes. A whole blob (any
    /// 200, even for a ranged request the registry ignored: check `status`) is verified against
    /// `digest`; a mismatch throws `.digestMismatch` (the bytes are already in `fd`: the caller
    /// discards them). `observer` follows the bytes as they land (the mirror's live readers).
    /// `timeouts` replace the client's own for this transfer (a mirror fill's deadline and minimum rate).
    public func blob(_ repository: RepositoryName, _ digest: Digest, range: (Int64, Int64?)? = nil, to fd: Int32,
                     observer: (any DownloadObserver)? = nil, timeouts: HTTPTimeouts? = nil) async throws(UpstreamError) -> BlobResult {
        let what = "blob \(digest) in \(repository)"
        let algorithm = DigestHasher(for: digest)?.algorithm ?? .sha256
        let (head, download) = try await send(scope: Self.pullScope(repository), what: what, build: { endpoint in
            var r = HTTPRequest(.get, url: "\(endpoint.baseURL)/v2/\(repository)/blobs/\(digest)")
            if let range { r.range = (range.0, range.1) }
            return r
        }, run: { r throws(HTTPClientError) in
            var r = r
            if let timeouts { r.timeouts = timeouts }
            let download = try await http.download(r, to: fd, hashing: algorithm, observer: observer)
            return (download.head, download.errorBody, download)
        })
        let computed = download.digest.flatMap { Digest($0) }
        // A 200 carries the whole blob (also when a registry ignored Range): verify it.
        if head.status == 200, computed != digest {
            throw UpstreamError(.digestMismatch, "\(what): the bytes hash to \(computed?.description ?? "?")", registry: configuration.registry)
        }
        return BlobResult(status: head.status, bytesWritten: download.bytesWritten, computedDigest: computed,
                          headerDigest: head.headers["Docker-Content-Digest"].flatMap { Digest($0) },
                          totalSize: Self.totalSize(head), mediaType: Self.mediaType(head))
    }

    /// GETs a blob as a stream with bounded buffering (the transfer pauses while the consumer is behind).
    public func streamBlob(_ repository: RepositoryName, _ digest: Digest, range: (Int64, Int64?)? = nil,
                           bufferLimit: Int = 1024 * 1024) async throws(UpstreamError) -> (DescriptorInfo, HTTPBodyStream) {
        let (head, body) = try await send(scope: Self.pullScope(repository), what: "blob \(digest) in \(repository)", build: { endpoint in
            var r = HTTPRequest(.get, url: "\(endpoint.baseURL)/v2/\(repository)/blobs/\(digest)")
            if let range { r.range = (range.0, range.1) }
            return r
        }, run: { r throws(HTTPClientError) in
            let response = try await http.stream(r, bufferLimit: bufferLimit)
            return (response.head, response.errorBody, response.body)
        })
        let info = DescriptorInfo(status: head.status, digest: head.headers["Docker-Content-Digest"].flatMap { Digest($0) },
                                  mediaType: Self.mediaType(head), size: Self.totalSize(head))
        return (info, body)
    }

    // MARK: Errors

    private func statusError(_ head: HTTPResponseHead, _ body: [UInt8], what: String) -> UpstreamError {
        let codes = Self.errorCodes(body)
        let registry = configuration.registry
        let detail = codes.isEmpty ? "" : " (\(codes.joined(separator: ", ")))"
        switch head.status {
        case 404:
            let message: String
            if codes.contains("NAME_UNKNOWN") {
                message = "\(what): repository not found"
            } else if codes.contains("MANIFEST_UNKNOWN") {
                message = "\(what): manifest not found"
            } else if codes.contains("BLOB_UNKNOWN") {
                message = "\(what): blob not found"
            } else {
                message = "\(what): not found"
            }
            return UpstreamError(.notFound, message + detail, registry: registry, status: 404, registryCodes: codes)
        case 401:
            let who = configuration.credentials.map { "the credentials of user \($0.username) were rejected" } ?? "authentication required and no credentials are configured"
            return UpstreamError(.unauthorized, "\(what): \(who)\(detail)", registry: registry, status: 401, registryCodes: codes)
        case 403:
            return UpstreamError(.denied, "\(what): access denied\(detail)", registry: registry, status: 403, registryCodes: codes)
        case 429:
            let retry = Self.retryAfter(head)
            return UpstreamError(.tooManyRequests, "\(what): rate limited" + (retry.map { ", retry after \($0.components.seconds) s" } ?? ""),
                                 registry: registry, status: 429, retryAfter: retry, registryCodes: codes)
        case 416:
            return UpstreamError(.invalidResponse, "\(what): range not satisfiable\(detail)", registry: registry, status: 416, registryCodes: codes)
        default:
            return UpstreamError(.unavailable, "\(what): answered \(head.status)\(detail)", registry: registry, status: head.status,
                                 retryAfter: Self.retryAfter(head), registryCodes: codes)
        }
    }

    private func transportError(_ error: HTTPClientError, url: String, what: String = "registry") -> UpstreamError {
        let registry = configuration.registry
        switch error.code {
        case .tlsUntrusted:
            let trust = http.trustInfo(for: url)
            let searched = trust.searchedDirectory.map { dir in
                "searched \(dir) for CA certificates: " + (trust.caFiles.isEmpty ? "none found" : trust.caFiles.joined(separator: ", "))
            } ?? "no CA directory configured"
            return UpstreamError(.tls, "the \(what) certificate at \(url) is not trusted: \(error.message); trusted: system bundle \(trust.systemBundle ?? "(none)"), \(searched)",
                                 registry: registry, cause: error)
        case .tlsHandshake:
            return UpstreamError(.tls, "TLS handshake with the \(what) at \(url) failed: \(error.message)", registry: registry, cause: error)
        case .connect, .resolve:
            return UpstreamError(.connect, "cannot reach the \(what) at \(url): \(error.message)", registry: registry, cause: error)
        case .timeout:
            return UpstreamError(.timeout, "the \(what) at \(url) timed out: \(error.message)", registry: registry, cause: error)
        case .cancelled:
            return UpstreamError(.cancelled, error.message, registry: registry, cause: error)
        case .io:
            return UpstreamError(.io, error.message, registry: registry, cause: error)
        case .refused:
            return UpstreamError(.refused, error.message, registry: registry, cause: error)
        case .bodyTooLarge:
            return UpstreamError(.invalidResponse, "the \(what) at \(url) sent too large an answer: \(error.message)", registry: registry, cause: error)
        default:
            return UpstreamError(.unavailable, "\(what) transfer failed: \(error.message)", registry: registry, cause: error)
        }
    }

    private func asUpstream(_ error: any Error) -> UpstreamError {
        if let error = error as? UpstreamError { return error }
        if let error = error as? HTTPClientError { return transportError(error, url: apiHost) }
        if error is CancellationError { return UpstreamError(.cancelled, "cancelled", registry: configuration.registry) }
        return UpstreamError(.other, "\(error)", registry: configuration.registry)
    }

    // MARK: Helpers

    static func errorCodes(_ body: [UInt8]) -> [String] {
        struct Errors: Decodable { struct E: Decodable { var code: String? }; var errors: [E]? }
        guard let decoded = try? JSONDecoder().decode(Errors.self, from: Data(body)) else { return [] }
        return (decoded.errors ?? []).compactMap(\.code)
    }

    static func mediaType(_ head: HTTPResponseHead) -> String? {
        head.headers["Content-Type"].map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces) }
    }

    static func totalSize(_ head: HTTPResponseHead) -> Int64? {
        if let range = head.headers["Content-Range"], let slash = range.lastIndex(of: "/") {
            return Int64(range[range.index(after: slash)...]).flatMap { $0 >= 0 ? $0 : nil }
        }
        return head.contentLength
    }

    static func retryAfter(_ head: HTTPResponseHead) -> Duration? {
        head.headers["Retry-After"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { .seconds($0) }
    }

    static func parseDate(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }

    static func percentEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:/")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
