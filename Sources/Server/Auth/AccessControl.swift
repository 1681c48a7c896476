import Crypto
import Foundation
import Logging
import NIOHTTP1
import OCI

/// Client authentication and roles, consulted at the start of routing for every `/v2/` request.
///
/// Credentials come as Basic (checked against the htpasswd file) or as a bearer token from
/// Wharf's own token endpoint (`/auth/token`, see `AccessControl+TokenEndpoint.swift`).
/// A client without valid credentials gets 401 `UNAUTHORIZED` with a Bearer challenge naming
/// the token endpoint and the scope it needs; an authenticated user lacking the permission
/// gets 403 `DENIED`. Credentials and tokens are never logged.
public struct AccessControl: Sendable {
    /// Where the token endpoint answers (with or without the trailing slash Distribution's
    /// `autoredirect` realm has).
    static let tokenPaths: Set<Substring> = ["/auth/token", "/auth/token/"]

    let settings: AuthSettings
    let passwords: PasswordVerifier
    let tokens: TokenAuthority
    let verifiedTokens = VerifiedTokenCache()
    var policy: AccessPolicy { settings.policy }
    /// True when Wharf itself serves HTTPS: the realm's default scheme.
    let usesTLS: Bool
    /// `host:port` for the realm when a request has no usable `Host` header.
    let fallbackAuthority: String
    let logger: Logger
    let now: @Sendable () -> Date

    /// Reads the htpasswd file and the signing key; either missing or malformed is a start-up error.
    public init(settings: AuthSettings, usesTLS: Bool, listeningHost: String, port: Int, logger: Logger) throws {
        let passwords = try PasswordVerifier(path: settings.htpasswdPath, cacheLifetime: settings.credentialCacheTTL, logger: logger)
        try self.init(settings: settings, passwords: passwords, key: try Self.signingKey(settings), usesTLS: usesTLS,
                      fallbackAuthority: Self.authority(host: listeningHost, port: port), logger: logger)
    }

    init(settings: AuthSettings, passwords: PasswordVerifier, key: SymmetricKey, usesTLS: Bool, fallbackAuthority: String,
         logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.settings = settings
        self.passwords = passwords
        self.tokens = TokenAuthority(key: key, issuer: settings.issuer, service: settings.service, lifetime: settings.tokenLifetime)
        self.usesTLS = usesTLS
        self.fallbackAuthority = fallbackAuthority
        self.logger = logger
        self.now = now
    }

    static func signingKey(_ settings: AuthSettings) throws -> SymmetricKey {
        if let text = settings.signingKey { return SymmetricKey(data: Data(text.utf8)) }
        guard let file = settings.signingKeyFile else { return SymmetricKey(size: .bits256) }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigurationError("auth.token.signingkeyfile: cannot read \(file)")
        }
        // A trailing newline from `echo` or an editor is not part of the key.
        var bytes = Array(data)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard bytes.count >= 32 else {
            throw ConfigurationError("auth.token.signingkeyfile: \(file) holds fewer than 32 bytes (e.g. openssl rand -hex 32 > \(file))")
        }
        return SymmetricKey(data: bytes)
    }

    private static func authority(host: String, port: Int) -> String {
        let name = ["0.0.0.0", "::", ""].contains(host) ? "localhost" : host
        return name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)"
    }

    /// The repository a request's name reaches (see `RegistryHandler.resolvedRepository`).
    typealias Resolver = @Sendable (RepositoryName) -> ResolvedRepository
    /// Every name is local: no mirror.
    static let plainResolver: Resolver = { ResolvedRepository($0.value) }

    // MARK: Who is asking

    /// The client behind a request's credentials.
    enum Identity: Sendable {
        case anonymous
        /// Basic credentials that matched the htpasswd file.
        case user(String)
        /// A valid token this server issued.
        case token(TokenAuthority.Claims)
    }

    /// What a request needs, derived from its route and method as Distribution does.
    enum Need: Equatable, Sendable {
        /// `/v2/`: any authenticated client.
        case identity
        /// `/v2/_catalog`: `registry:catalog:*`.
        case catalog
        /// On the repository the request reaches (registry + name), not the URL's spelling.
        case repository(ResolvedRepository, RepositoryAction)

        init(_ route: RegistryRoute, method: HTTPMethod, resolve: Resolver = AccessControl.plainResolver) {
            switch route {
            case .base: self = .identity
            case .catalog: self = .catalog
            case .uploads(let name), .upload(let name, _): self = .repository(resolve(name), .push)
            case .manifest(let name, _), .blob(let name, _), .tags(let name), .referrers(let name, _):
                switch method {
                case .GET, .HEAD: self = .repository(resolve(name), .pull)
                case .DELETE: self = .repository(resolve(name), .delete)
                default: self = .repository(resolve(name), .push)
                }
            }
        }

        /// The scope a token needs, as the challenge names it; a push asks for pull too, as
        /// Distribution's does (a client checks for blobs before uploading them).
        var scope: String? {
            switch self {
            case .identity: return nil
            case .catalog: return ResourceScope.catalog.description
            case .repository(let repository, .push): return "repository:\(repository.scopeName):pull,push"
            case .repository(let repository, let action): return "repository:\(repository.scopeName):\(action.rawValue)"
            }
        }

        /// Distribution's `detail` for `UNAUTHORIZED` and `DENIED`: what was asked for.
        var detailJSON: String? {
            switch self {
            case .identity: return nil
            case .catalog: return #"[{"Type":"registry","Name":"catalog","Action":"*"}]"#
            case .repository(let repository, let action):
                return #"[{"Type":"repository","Name":\#(JSONText.string(repository.scopeName)),"Action":"\#(action.rawValue)"}]"#
            }
        }
    }

    /// The outcome of a request that may go ahead.
    struct Decision: Sendable {
        /// The request to route. A cross-repository mount from a repository the client may
        /// not pull is left out, so the upload starts as a plain one: a digest is not a password.
        var request: HTTPRequest
        let identity: Identity
        let policy: AccessPolicy
        /// How a stored repository's name resolves (for the catalog).
        var resolve: Resolver = AccessControl.plainResolver

        /// The user whose permissions apply (nil: anonymous).
        var user: String? {
            switch identity {
            case .anonymous: return nil
            case .user(let name): return name
            case .token(let claims): return claims.sub.isEmpty ? nil : claims.sub
            }
        }

        /// True when the catalog may list `name` (as stored) to this client: when it may pull
        /// what that name reaches.
        func mayList(_ name: RepositoryName) -> Bool {
            policy.allows(user, .pull, on: resolve(name))
        }
    }

    /// Lets the request through, or throws 401 `UNAUTHORIZED` (no or wrong credentials, an
    /// invalid or expired token, or a token without the scope) or 403 `DENIED` (an
    /// authenticated user without the permission).
    ///
    /// - Parameters:
    ///   - resolve: the repository a name reaches with this request's `?ns=`.
    ///   - resolveStored: the repository a name reaches alone (a mount's `from`, the catalog).
    func authorize(_ request: HTTPRequest, route: RegistryRoute, resolve: Resolver = AccessControl.plainResolver,
                   resolveStored: @escaping Resolver = AccessControl.plainResolver) async throws -> Decision {
        let need = Need(route, method: request.method, resolve: resolve)
        let identity = try await identify(request, need: need)
        guard permits(identity, need) else { throw refusal(identity, need, request) }
        var decision = Decision(request: request, identity: identity, policy: policy, resolve: resolveStored)
        if case .uploads = route, request.queryValue("mount") != nil, let from = request.queryValue("from"),
           !(RepositoryName(from).map { permits(identity, .repository(resolveStored($0), .pull)) } ?? false) {
            decision.request = Self.removingMount(from: request)
        }
        // Events name who pushed or pulled (Distribution's `actor`).
        decision.request.user = decision.user
        return decision
    }

    private func permits(_ identity: Identity, _ need: Need) -> Bool {
        switch (identity, need) {
        case (.anonymous, .identity): return false
        case (.anonymous, .catalog): return policy.mayListCatalog(nil)
        case (.anonymous, .repository(let repository, let action)): return policy.allows(nil, action, on: repository)
        case (.user, .identity), (.user, .catalog): return true
        case (.user(let user), .repository(let repository, let action)): return policy.allows(user, action, on: repository)
        case (.token, .identity): return true
        case (.token(let claims), .catalog): return claims.allows(type: "registry", name: "catalog", action: "*")
        case (.token(let claims), .repository(let repository, let action)):
            // The token endpoint granted each name on what that name alone reaches.
            return claims.allows(type: "repository", name: repository.qualified, action: action.rawValue)
                || (repository.plainNameReachesIt && claims.allows(type: "repository", name: repository.requested, action: action.rawValue))
        }
    }

    /// 401 when more credentials (or a token with more scope) could help, 403 when the user
    /// is known and may not.
    private func refusal(_ identity: Identity, _ need: Need, _ request: HTTPRequest) -> RegistryError {
        let user: String
        switch identity {
        case .anonymous:
            return unauthorized(need, request, message: "authentication required")
        case .user(let name):
            user = name
        case .token(let claims):
            // An anonymous token, or a user's token that lacks a scope the user has: a new token helps.
            guard !claims.sub.isEmpty, !permits(.user(claims.sub), need) else {
                return unauthorized(need, request, message: "the token does not grant \(need.scope ?? "this request")",
                                    error: "insufficient_scope")
            }
            user = claims.sub
        }
        guard case .repository(let repository, let action) = need else {
            return unauthorized(need, request, message: "authentication required")
        }
        let verb = switch action {
        case .pull: "pull from"
        case .push: "push to"
        case .delete: "delete from"
        }
        return RegistryError(.denied, "requested access to the resource is denied: user \"\(user)\" may not \(verb) repository \(repository.requested)",
                             detailJSON: need.detailJSON)
    }

    /// Who sent the request. Wrong Basic credentials or a bad token end it with 401; no
    /// credentials (or another scheme) is anonymous.
    private func identify(_ request: HTTPRequest, need: Need) async throws -> Identity {
        guard let header = request.headers.first(name: "authorization") else { return .anonymous }
        let (scheme, value) = Self.splitAuthorization(header)
        switch scheme {
        case "basic":
            guard let (user, password) = Self.basicCredentials(value) else {
                throw unauthorized(need, request, message: "malformed Basic credentials")
            }
            guard await passwords.verify(user: user, password: password) else {
                logger.debug("credentials refused", metadata: ["auth.user": "\(user)"])
                throw unauthorized(need, request, message: "invalid username or password")
            }
            return .user(user)
        case "bearer":
            do {
                let now = now()
                return .token(try verifiedTokens.claims(of: value, now: now) { token throws(TokenAuthority.VerificationError) in
                    try tokens.verify(token, now: now)
                })
            } catch {
                throw unauthorized(need, request, message: "invalid bearer token: \(error)", error: "invalid_token")
            }
        default:
            return .anonymous
        }
    }

    func unauthorized(_ need: Need, _ request: HTTPRequest, message: String, error: String? = nil) -> RegistryError {
        var challenge = #"Bearer realm="\#(realm(for: request))",service="\#(settings.service)""#
        if let scope = need.scope { challenge += #",scope="\#(scope)""# }
        if let error { challenge += #",error="\#(error)""# }
        return RegistryError(.unauthorized, message, detailJSON: need.detailJSON, headers: [("WWW-Authenticate", challenge)])
    }

    /// The token endpoint's URL as this client reaches Wharf: `auth.token.realm` if set, else
    /// the scheme (`X-Forwarded-Proto` from a TLS-terminating proxy, else Wharf's own) and the
    /// `Host` the client used.
    func realm(for request: HTTPRequest) -> String {
        if let realm = settings.tokenRealm { return realm }
        var scheme = usesTLS ? "https" : "http"
        if let forwarded = request.headers.first(name: "x-forwarded-proto")?.split(separator: ",").first?
            .trimmingCharacters(in: .whitespaces).lowercased(), forwarded == "https" || forwarded == "http" {
            scheme = forwarded
        }
        let host = request.headers.first(name: "host").flatMap { Self.isAuthority($0) ? $0 : nil } ?? fallbackAuthority
        return "\(scheme)://\(host)/auth/token"
    }

    /// A `Host` value safe to put in a quoted header parameter: a name or address and a port.
    private static func isAuthority(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
    }

    // MARK: Parsing credentials

    /// The scheme, lowercased, and the rest of an `Authorization` value.
    static func splitAuthorization(_ header: String) -> (scheme: String, value: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed.lowercased(), "") }
        return (trimmed[..<space].lowercased(), trimmed[space...].trimmingCharacters(in: .whitespaces))
    }

    /// `user:password` from base64; nil when it is not that.
    static func basicCredentials(_ value: String) -> (String, String)? {
        guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The request with `mount` and `from` taken out of its query.
    static func removingMount(from request: HTTPRequest) -> HTTPRequest {
        let kept = request.uri.split(separator: "?", maxSplits: 1).dropFirst().first?.split(separator: "&").filter { pair in
            let name = QueryString.percentDecode(pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0])
            return name != "mount" && name != "from"
        } ?? []
        let uri = String(request.path) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
        return HTTPRequest(method: request.method, uri: uri, headers: request.headers, remoteAddress: request.remoteAddress)
    }
}
