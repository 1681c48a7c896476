import Foundation
import NIOCore
import NIOHTTP1
import OCI

/// Wharf's token endpoint, for the Docker token flow (Distribution's `spec/auth/token` and
/// `spec/auth/oauth`).
///
/// - `GET /auth/token?service=…&scope=…[&scope=…]`, with Basic credentials or none (an
///   anonymous token): `{"token","access_token","expires_in","issued_at"}`.
/// - `POST /auth/token` with a form (`grant_type=password`, `username`, `password`, `scope`
///   space-separated, `service`, `client_id`), as containerd sends: the same plus `scope`.
///
/// A token grants the requested actions the user is permitted and no others: a partial
/// grant is not an error, the registry then refuses what is missing. Wrong credentials are
/// 401. No refresh tokens are issued, so `grant_type=refresh_token` is refused with 400
/// (containerd then falls back to GET).
extension AccessControl {
    func isTokenEndpoint(_ path: Substring) -> Bool { Self.tokenPaths.contains(path) }

    /// - Parameter resolve: the repository a scope's name reaches (as a request without `?ns=`).
    func tokenEndpoint(_ request: HTTPRequest, body: RequestBody, resolve: Resolver = plainResolver) async throws -> HTTPResponse {
        switch request.method {
        case .GET:
            var user: String?
            if let header = request.headers.first(name: "authorization") {
                let (scheme, value) = Self.splitAuthorization(header)
                guard scheme == "basic", let (name, password) = Self.basicCredentials(value),
                      await passwords.verify(user: name, password: password) else {
                    throw loginRefused()
                }
                user = name
            }
            let scopes = try request.query.filter { $0.name == "scope" }.flatMap { try parseScopes($0.value) }
            return issueToken(for: user, scopes: scopes, oauth: false, resolve: resolve)
        case .POST:
            let form = QueryString.parse("?" + String(buffer: try await body.collect(upTo: 64 << 10)))
            func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
            switch field("grant_type") {
            case "password":
                guard let name = field("username"), let password = field("password"),
                      await passwords.verify(user: name, password: password) else {
                    throw loginRefused()
                }
                let scopes = try form.filter { $0.name == "scope" }.flatMap { try parseScopes($0.value) }
                return issueToken(for: name, scopes: scopes, oauth: true, resolve: resolve)
            case let grant:
                return oauthError(grant == nil ? "invalid_request" : "unsupported_grant_type",
                                  grant == nil ? "grant_type is required" : "grant_type \(grant!) is not supported; use password")
            }
        default:
            throw RegistryError(.unsupported, "the token endpoint takes GET (Basic credentials) or POST (an OAuth2 password grant)")
        }
    }

    private func parseScopes(_ text: String) throws -> [ResourceScope] {
        guard let scopes = ResourceScope.parseList(text) else {
            throw RegistryError(.unsupported, "scope \"\(text)\" is not type:name:actions (e.g. repository:team/app:pull,push)",
                                status: 400)
        }
        return scopes
    }

    private func loginRefused() -> RegistryError {
        RegistryError(.unauthorized, "invalid username or password",
                      headers: [("WWW-Authenticate", #"Basic realm="\#(settings.htpasswdRealm)""#)])
    }

    /// What `user` (nil: anonymous) may have of each requested scope: the intersection of the
    /// requested actions and the permitted ones; scopes with nothing left are left out.
    /// Each name is judged on the repository it reaches (registry + name), as requests are.
    func grants(for user: String?, _ scopes: [ResourceScope], resolve: Resolver = plainResolver) -> [TokenAuthority.Grant] {
        var grants: [TokenAuthority.Grant] = []
        for scope in scopes {
            switch (scope.type, scope.name) {
            case ("repository", let name):
                let routeName = ResourceScope.routeName(name)
                guard let parsed = RepositoryName(routeName) else { continue }
                let permitted = policy.actions(for: user, on: resolve(parsed))
                let wanted = scope.actions.contains("*") ? RepositoryAction.allCases.map(\.rawValue) : scope.actions
                let granted = wanted.filter { RepositoryAction(rawValue: $0).map(permitted.contains) ?? false }
                if !granted.isEmpty { grants.append(.init(type: "repository", name: name, actions: granted)) }
            case ("registry", "catalog") where scope.actions.contains("*") && policy.mayListCatalog(user):
                grants.append(.init(type: "registry", name: "catalog", actions: ["*"]))
            default:
                continue
            }
        }
        return grants
    }

    private func issueToken(for user: String?, scopes: [ResourceScope], oauth: Bool, resolve: Resolver) -> HTTPResponse {
        let grants = grants(for: user, scopes, resolve: resolve)
        let issued = now()
        let (token, claims) = tokens.issue(subject: user ?? "", access: grants, now: issued)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var json = #"{"token":"\#(token)","access_token":"\#(token)","expires_in":\#(claims.exp - claims.iat),"#
            + #""issued_at":"\#(formatter.string(from: Date(timeIntervalSince1970: TimeInterval(claims.iat))))""#
        if oauth {
            let granted = grants.map { ResourceScope(type: $0.type, name: $0.name, actions: $0.actions).description }
            json += #","scope":\#(JSONText.string(granted.joined(separator: " ")))"#
        }
        json += "}\n"
        logger.debug("token issued", metadata: [
            "auth.user": "\(user ?? "anonymous")", "auth.granted": "\(grants.map { "\($0.type):\($0.name):\($0.actions.joined(separator: ","))" })",
        ])
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
                            body: .buffer(ByteBuffer(string: json)))
    }

    /// An RFC 6749 §5.2 error, the shape OAuth2 clients read.
    private func oauthError(_ code: String, _ description: String) -> HTTPResponse {
        let json = #"{"error":"\#(code)","error_description":\#(JSONText.string(description))}"# + "\n"
        return HTTPResponse(status: .badRequest, headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
                            body: .buffer(ByteBuffer(string: json)))
    }
}
