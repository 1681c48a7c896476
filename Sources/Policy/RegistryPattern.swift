import OCI

/// A pattern naming registries, or repositories on registries, as the `policy.registries` lists write it:
/// `host[:port][/repository-glob]`.
///
/// - Host: DNS labels separated by `.`; a label that is exactly `*` matches any one label (so
///   `*.untrusted.example` matches `a.untrusted.example`, not `untrusted.example` nor
///   `a.b.untrusted.example`). Compared case-insensitively; Docker Hub's aliases
///   (`index.docker.io`, `registry-1.docker.io`, …) are the same host as `docker.io`.
/// - Port: a pattern with a port matches that port only; a pattern without one matches the host
///   on any port (blocking `evil.example` blocks `evil.example:5000` too).
/// - Repository glob (optional, after the first `/`): matched against the whole repository name
///   as the upstream knows it (Hub's one-component names are `library/<name>`). `*` matches any
///   characters within one path segment (not `/`), `**` any characters across segments (`/`
///   included). Without a glob the pattern covers every repository of the registry.
public struct RegistryPattern: Hashable, Sendable, CustomStringConvertible {
    /// Host labels, lowercased; `*` is the one-label wildcard.
    public let hostLabels: [String]
    public let port: String?
    /// The repository glob, or nil for the whole registry.
    public let repositoryGlob: String?
    /// `repositoryGlob`, compiled once.
    private let glob: RepositoryGlob?
    /// The pattern as written (lowercased).
    public let description: String

    /// Parses a pattern; the error says what is wrong with it.
    public init(parsing text: String) throws(PolicyError) {
        let trimmed = text.trimmingSpaces().lowercased()
        guard !trimmed.isEmpty else { throw PolicyError("an empty pattern") }
        let hostPart: Substring, glob: Substring?
        if let slash = trimmed.firstIndex(of: "/") {
            hostPart = trimmed[..<slash]
            glob = trimmed[trimmed.index(after: slash)...]
        } else {
            (hostPart, glob) = (trimmed[...], nil)
        }
        var host = hostPart, port: String?
        if hostPart.hasPrefix("[") {
            // An IPv6 literal: one label, canonical (RFC 5952) so every spelling matches.
            guard let canonical = RegistryHost.canonical(hostPart) else {
                throw PolicyError("\"\(text)\": not an IPv6 literal [address] or [address]:port")
            }
            let (v6, v6Port) = Self.split(canonical)
            try self.init(hostLabels: [String(v6)], port: v6Port, glob: glob, text: text, trimmed: trimmed)
            return
        }
        if let colon = hostPart.lastIndex(of: ":") {
            let digits = hostPart[hostPart.index(after: colon)...]
            guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let number = Int(digits), (1...65535).contains(number) else {
                throw PolicyError("\"\(text)\": the port must be a number from 1 to 65535")
            }
            port = String(number)  // `:0443` is `:443`
            host = hostPart[..<colon]
        }
        // `docker.io.` is `docker.io`: the root's dot names no other host.
        if host.hasSuffix(".") { host = host.dropLast() }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for label in labels {
            guard !label.isEmpty else { throw PolicyError("\"\(text)\": the host has an empty label") }
            if label == "*" { continue }
            guard label.allSatisfy({ $0.isASCIIDigit || ("a"..."z").contains($0) || $0 == "-" }) else {
                throw PolicyError("\"\(text)\": a host label is letters, digits and '-', or exactly '*' for any one label")
            }
        }
        if !labels.contains("*"), RegistryHost.canonical(host) == nil {
            throw PolicyError("\"\(text)\": not a host name (IPv4 addresses are written in dotted decimal, e.g. 127.0.0.1)")
        }
        try self.init(hostLabels: labels, port: port, glob: glob, text: text, trimmed: trimmed)
    }

    private init(hostLabels labels: [String], port: String?, glob: Substring?, text: String, trimmed: String) throws(PolicyError) {
        var compiled: RepositoryGlob?
        if let glob {
            guard !glob.isEmpty, !glob.hasPrefix("/"), !glob.hasSuffix("/"), !glob.contains("//") else {
                throw PolicyError("\"\(text)\": the repository part must be a path such as org/* or org/**")
            }
            guard let parsed = RepositoryGlob(glob) else {
                throw PolicyError("\"\(text)\": the repository part holds characters a repository name cannot have")
            }
            compiled = parsed
        }
        let canonicalLabels = Self.isHubAlias(labels) ? ["docker", "io"] : labels
        self.hostLabels = canonicalLabels
        self.port = port
        self.repositoryGlob = glob.map(String.init)
        self.glob = compiled
        self.description = trimmed
        self.specificity = Self.specificity(hostLabels: canonicalLabels, port: port, repositoryGlob: glob.map(String.init))
    }

    /// Whether this pattern covers `repository` (nil: the registry as a whole) on `registry` (`host[:port]`).
    public func matches(registry: String, repository: String?) -> Bool {
        // Registries are compared canonically; one that has no canonical spelling matches nothing.
        guard let canonical = RegistryHost.canonical(registry) else { return false }
        let (host, registryPort) = Self.split(canonical)
        // A canonical registry never carries `:443` (HTTPS's port is left out): `host:443` is `host`.
        if let port, port != (registryPort ?? "443") { return false }
        if host.hasPrefix("[") { return hostLabels == [String(host)] && (glob.map { glob in repository.map(glob.matches) ?? false } ?? true) }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if Self.isHubAlias(labels) { labels = ["docker", "io"] }
        guard labels.count == hostLabels.count else { return false }
        for (pattern, label) in zip(hostLabels, labels) where pattern != "*" && pattern != label { return false }
        guard let glob else { return true }
        guard let repository else { return false }
        return glob.matches(repository)
    }

    /// How specific the pattern is; see `Specificity`.
    public let specificity: Specificity

    private static func specificity(hostLabels: [String], port: String?, repositoryGlob: String?) -> Specificity {
        var literal = 0, single = 0, double = 0
        if let repositoryGlob {
            var bytes = Array(repositoryGlob.utf8)[...]
            while let byte = bytes.first {
                if byte == UInt8(ascii: "*") {
                    if bytes.dropFirst().first == UInt8(ascii: "*") {
                        double += 1
                        bytes = bytes.dropFirst(2)
                    } else {
                        single += 1
                        bytes = bytes.dropFirst()
                    }
                } else {
                    literal += 1
                    bytes = bytes.dropFirst()
                }
            }
        }
        return Specificity(literalHostLabels: hostLabels.filter { $0 != "*" }.count, hasPort: port != nil,
                           hasRepository: repositoryGlob != nil, literalRepositoryCharacters: literal,
                           multiSegmentWildcards: double, singleSegmentWildcards: single)
    }

    /// How specific a pattern is. Of two patterns that both match a request, the more specific
    /// one decides. The fields are compared in this order, the first difference deciding:
    ///
    /// 1. `literalHostLabels`: more host labels written out (not `*`) is more specific
    ///    (`registry.example.com` beats `*.example.com`). Two patterns matching the same host
    ///    have the same number of labels, so this counts only the wildcards' absence.
    /// 2. `hasPort`: a pattern naming the port beats one that does not (`host:5000` beats `host`).
    /// 3. `hasRepository`: a pattern with a repository glob beats a registry-wide one, even
    ///    `**` (`docker.io/**` beats `docker.io`).
    /// 4. `literalRepositoryCharacters`: more characters of the glob that are not wildcards is
    ///    more specific (`library/alpine` beats `library/*` beats `*`).
    /// 5. `multiSegmentWildcards`: fewer `**` is more specific (`a/*` beats `a/**`).
    /// 6. `singleSegmentWildcards`: fewer `*` is more specific (`a-*` beats `a*-*`).
    ///
    /// Equal in all six is a tie: then `block` beats `allow`.
    public struct Specificity: Comparable, Hashable, Sendable {
        public var literalHostLabels: Int
        public var hasPort: Bool
        public var hasRepository: Bool
        public var literalRepositoryCharacters: Int
        public var multiSegmentWildcards: Int
        public var singleSegmentWildcards: Int

        public static func < (lhs: Specificity, rhs: Specificity) -> Bool {
            if lhs.literalHostLabels != rhs.literalHostLabels { return lhs.literalHostLabels < rhs.literalHostLabels }
            if lhs.hasPort != rhs.hasPort { return !lhs.hasPort }
            if lhs.hasRepository != rhs.hasRepository { return !lhs.hasRepository }
            if lhs.literalRepositoryCharacters != rhs.literalRepositoryCharacters {
                return lhs.literalRepositoryCharacters < rhs.literalRepositoryCharacters
            }
            if lhs.multiSegmentWildcards != rhs.multiSegmentWildcards { return lhs.multiSegmentWildcards > rhs.multiSegmentWildcards }
            return lhs.singleSegmentWildcards > rhs.singleSegmentWildcards
        }
    }

    private static func isHubAlias(_ labels: [String]) -> Bool {
        DockerHubHost.isHub(labels.joined(separator: "."))
    }

    /// `host:port` → (`host`, `port`); `host` → (`host`, nil).
    static func split(_ registry: String) -> (host: Substring, port: String?) {
        guard let colon = registry.lastIndex(of: ":"), !registry[colon...].contains("]") else { return (registry[...], nil) }
        return (registry[..<colon], String(registry[registry.index(after: colon)...]))
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
