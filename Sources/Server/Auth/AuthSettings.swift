/// Client authentication (`auth:`): Distribution's `htpasswd` users, bearer tokens from
/// Wharf's own token endpoint, and Wharf's `access` rules.
///
/// Keys (Distribution's unless marked Wharf):
/// - `auth.htpasswd.realm` (string, default `wharf`), `auth.htpasswd.path` (required): bcrypt
///   entries only, as `htpasswd -B` writes them.
/// - `auth.htpasswd.cachettl` (Wharf, duration, default 60s): how long a verified password is
///   remembered (as a keyed hash) before bcrypt runs again.
/// - `auth.token.realm` (URL, default: built from the request, `<scheme>://<Host>/auth/token`):
///   what clients are sent to; set it when a proxy rewrites the host or scheme.
/// - `auth.token.service` (default `wharf`), `auth.token.issuer` (default `wharf`).
/// - `auth.token.expiration` (Wharf, duration, default 5m): a token's lifetime.
/// - `auth.token.signingkey` / `auth.token.signingkeyfile` (Wharf): the HMAC-SHA256 key, at
///   least 32 bytes; without one, a random key is made at start-up (tokens then end with the
///   process, and replicas do not share them).
/// - `auth.access.anonymouspull` (Wharf): `true` (every repository), or a list of patterns.
/// - `auth.access.rules` (Wharf): a list of `{repositories: [patterns], read: [users],
///   write: [users]}`; `*` matches within a path segment, `**` across; user `"*"` is any
///   authenticated user. Without rules every htpasswd user may pull, push and delete.
public struct AuthSettings: Sendable {
    public var htpasswdRealm = "wharf"
    public var htpasswdPath: String
    public var credentialCacheTTL: Duration = .seconds(60)
    public var tokenRealm: String?
    public var service = "wharf"
    public var issuer = "wharf"
    public var tokenLifetime: Duration = .seconds(300)
    /// The signing key's text, from `signingkey`; never logged.
    public var signingKey: String?
    public var signingKeyFile: String?
    var policy = AccessPolicy()

    public init(htpasswdPath: String) {
        self.htpasswdPath = htpasswdPath
    }
}

extension AuthSettings {
    /// Reads the files this section names (the htpasswd file, the signing key file), as
    /// start-up will; for `wharf check-config`.
    /// - Returns: a line describing what was found, never a secret.
    public func checkFiles() throws -> String {
        let users = try Htpasswd.load(path: htpasswdPath)
        _ = try AccessControl.signingKey(self)
        return "auth: \(users.entries.count) user(s) in \(htpasswdPath), token service \(service)"
    }

    /// Reads the `auth` section; nil when it configures nothing.
    static func read(_ node: ConfigNode) throws -> AuthSettings? {
        if node.child("silly") != nil { throw ConfigurationError("\(node.path).silly: not supported; use auth.htpasswd") }
        try node.expectKeys(["htpasswd", "token", "access"])
        guard let htpasswd = node.child("htpasswd") else {
            for key in ["token", "access"] where node.child(key) != nil {
                throw ConfigurationError("\(node.path).\(key): needs auth.htpasswd (Wharf issues tokens to, and applies rules to, its users)")
            }
            return nil
        }
        try htpasswd.expectKeys(["realm", "path", "cachettl"])
        guard let path = try htpasswd.string("path"), !path.isEmpty else {
            throw ConfigurationError("\(htpasswd.path).path: required (an htpasswd file with bcrypt entries, made with htpasswd -B)")
        }
        var settings = AuthSettings(htpasswdPath: path)
        settings.htpasswdRealm = try htpasswd.string("realm") ?? settings.htpasswdRealm
        settings.credentialCacheTTL = try htpasswd.duration("cachettl") ?? settings.credentialCacheTTL
        if let token = node.child("token") { try settings.readToken(token) }
        if let access = node.child("access") { settings.policy = try Self.readAccess(access) }
        return settings
    }

    private mutating func readToken(_ node: ConfigNode) throws {
        for outside in ["rootcertbundle", "jwks", "signingalgorithms"] where node.child(outside) != nil {
            throw ConfigurationError("\(node.path).\(outside): Wharf issues its own tokens (HMAC-SHA256); an outside token issuer is not supported")
        }
        try node.expectKeys(["realm", "service", "issuer", "autoredirect", "expiration", "signingkey", "signingkeyfile"])
        if let realm = try node.string("realm") {
            guard realm.hasPrefix("https://") || realm.hasPrefix("http://"),
                  !realm.contains(where: { $0 == "\"" || $0 == "\\" || $0.isWhitespace }) else {
                throw ConfigurationError("\(node.path).realm: \"\(realm)\" is not an http(s) URL")
            }
            tokenRealm = realm
        }
        for (key, value) in [("service", try node.string("service")), ("issuer", try node.string("issuer"))] {
            guard let value else { continue }
            guard !value.isEmpty, !value.contains(where: { $0 == "\"" || $0 == "\\" || $0.isNewline }) else {
                throw ConfigurationError("\(node.path).\(key): must be a non-empty string without quotes")
            }
            if key == "service" { service = value } else { issuer = value }
        }
        // The realm is always built from the request unless given: autoredirect is how Wharf works.
        _ = try node.bool("autoredirect")
        if let lifetime = try node.duration("expiration") {
            guard lifetime >= .seconds(1), lifetime <= .seconds(24 * 3600) else {
                throw ConfigurationError("\(node.path).expiration: must be between 1s and 24h")
            }
            tokenLifetime = lifetime
        }
        signingKey = try node.string("signingkey")
        signingKeyFile = try node.string("signingkeyfile")
        if signingKey != nil && signingKeyFile != nil {
            throw ConfigurationError("\(node.path): give signingkey or signingkeyfile, not both")
        }
        if let signingKey, signingKey.utf8.count < 32 {
            throw ConfigurationError("\(node.path).signingkey: must be at least 32 bytes (e.g. openssl rand -hex 32)")
        }
    }

    private static func readAccess(_ node: ConfigNode) throws -> AccessPolicy {
        try node.expectKeys(["anonymouspull", "rules"])
        var policy = AccessPolicy()
        if let anonymous = node.child("anonymouspull") {
            // `true`/`false`, or patterns (a list, or comma-separated from REGISTRY_AUTH_ACCESS_ANONYMOUSPULL).
            if case .scalar = anonymous.value, let everything = try? node.bool("anonymouspull") {
                policy.anonymousPull = everything ? [RepositoryPattern("**")!] : []
            } else {
                policy.anonymousPull = try patterns(node, "anonymouspull")
            }
        }
        if node.child("rules") != nil {
            policy.rules = try node.list("rules").map { entry in
                try entry.expectKeys(["repositories", "read", "write"])
                var rule = AccessPolicy.Rule(repositories: try patterns(entry, "repositories"))
                guard !rule.repositories.isEmpty else {
                    throw ConfigurationError("\(entry.path).repositories: required, a list of patterns such as team/** or library/*")
                }
                rule.readers = Set(try entry.stringList("read") ?? [])
                rule.writers = Set(try entry.stringList("write") ?? [])
                return rule
            }
        }
        return policy
    }

    private static func patterns(_ node: ConfigNode, _ key: String) throws -> [RepositoryPattern] {
        try (node.stringList(key) ?? []).map { text in
            guard let pattern = RepositoryPattern(text) else {
                throw ConfigurationError("\(node.path).\(key): \"\(text)\" is not a repository pattern (lowercase name characters, / and *)")
            }
            return pattern
        }
    }
}
