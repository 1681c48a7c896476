import OCI

/// Docker Hub's naming rules (distribution/reference's `splitDockerDomain`, containerd's `DefaultHost`).
public enum DockerHub {
    /// The name users write.
    public static let canonicalName = "docker.io"
    /// Where the registry API lives.
    public static let apiHost = "registry-1.docker.io"

    public static func isHubHost(_ host: String) -> Bool {
        DockerHubHost.isHub(host.lowercased())
    }

    /// The host to send API requests to: `docker.io` → `registry-1.docker.io`, others unchanged.
    public static func apiHost(for registry: String) -> String {
        isHubHost(registry) ? apiHost : registry
    }

    /// On Docker Hub a one-component name is an official image: `alpine` → `library/alpine`.
    public static func normalise(_ repository: RepositoryName, registry: String) -> RepositoryName {
        guard isHubHost(registry), repository.components.count == 1 else { return repository }
        return RepositoryName("library/\(repository.value)") ?? repository
    }
}

/// What `wharf check-upstream` and the mirror's configuration name: `registry[/repository[:tag|@digest]]`.
public struct UpstreamTarget: Sendable, Equatable, CustomStringConvertible {
    /// `host[:port]` as written (Docker Hub as `docker.io`).
    public var registry: String
    public var repository: RepositoryName?
    public var reference: ManifestReference?

    public init(registry: String, repository: RepositoryName? = nil, reference: ManifestReference? = nil) {
        self.registry = registry
        self.repository = repository
        self.reference = reference
    }

    /// Parses `registry[/repository[:tag|@digest]]`; the first component is always the registry.
    /// A repository without tag or digest means `:latest`. Docker Hub names get `library/`.
    public init?(parsing text: String) {
        var s = Substring(text)
        for prefix in ["https://", "http://"] where s.hasPrefix(prefix) { s = s.dropFirst(prefix.count) }
        guard let slash = s.firstIndex(of: "/") else {
            guard !s.isEmpty else { return nil }
            self.init(registry: String(s).lowercased())
            return
        }
        let registry = String(s[..<slash]).lowercased()
        var rest = s[s.index(after: slash)...]
        guard !registry.isEmpty else { return nil }
        if rest.isEmpty { self.init(registry: registry); return }
        var reference: ManifestReference?
        if let at = rest.firstIndex(of: "@") {
            guard let digest = Digest(rest[rest.index(after: at)...]) else { return nil }
            reference = .digest(digest)
            rest = rest[..<at]
        } else if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            guard let tag = Tag(rest[rest.index(after: colon)...]) else { return nil }
            reference = .tag(tag)
            rest = rest[..<colon]
        } else {
            reference = Tag("latest").map { .tag($0) }
        }
        guard let name = RepositoryName(rest) else { return nil }
        self.init(registry: registry, repository: DockerHub.normalise(name, registry: registry), reference: reference)
    }

    public var description: String {
        var s = registry
        if let repository { s += "/\(repository)" }
        switch reference {
        case .tag(let tag)?: s += ":\(tag)"
        case .digest(let digest)?: s += "@\(digest)"
        case nil: break
        }
        return s
    }
}
