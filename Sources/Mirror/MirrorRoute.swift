import OCI
import Policy
import Upstream

/// Where a repository's content comes from: the local repository it is stored under, and the
/// upstream registry and repository it is pulled from.
public struct MirrorRoute: Hashable, Sendable, CustomStringConvertible {
    /// The repository in local storage (links, tags, revisions).
    public let localRepository: RepositoryName
    /// `host[:port]`, `docker.io` for Docker Hub.
    public let registry: String
    public let upstreamRepository: RepositoryName
    /// Credentials for this route only (an ImageStream namespace's pull secret); nil uses the
    /// upstream's configured ones.
    public var credentials: Credentials?
    /// TLS verification off and plain HTTP allowed for this route (an ImageStream's insecure tag).
    public var insecure = false
    /// Named by the operator outside `mirror.upstreams` (an ImageStream's candidate): may be on
    /// a loopback or private address, as a listed upstream may.
    public var listed = false

    public var description: String { "\(registry)/\(upstreamRepository)" }
}

/// Maps a requested repository name (and containerd's `?ns=`) to a `MirrorRoute`.
///
/// - `?ns=<registry>`: the name is the repository on that registry.
/// - `<registry>/<repository>`: a first component with a `.` or `localhost` names the registry
///   (podman's `registries.conf` mirrors with a path). A port is written `_<port>` in a
///   repository name, since `:` is not allowed there and `_` never occurs in a host name; a
///   host without a dot (other than localhost) can only be reached through `?ns=`.
/// - A bare name goes to the default registry, if there is one, unless it matches
///   `mirror.localrepositories` (then it is a local repository).
///
/// Registries are compared in `RegistryHost`'s canonical spelling, so every way of writing one
/// host (case, trailing dot, `:443`, Hub's aliases) is one route, one policy decision, one store.
///
/// Docker Hub names get `library/` when they have one component. Content from the default
/// registry is stored under its upstream name (as Distribution's proxy mode stores it); content
/// from other registries under `<registry>/<repository>`, so registries never collide.
///
/// Every route it makes has passed the registry policy (`policy.registries`): a refused one is
/// never returned, so no caller can reach the upstream, nor serve what is stored under the route.
public struct MirrorRouter: Sendable {
    let configuration: MirrorConfiguration
    /// `configuration.policy` at start, replaced when the configuration is reloaded.
    public let policy: LivePolicy
    /// Told of every refusal (for counting refusals by rule).
    let onRefusal: @Sendable (PolicyDecision) -> Void

    public init(configuration: MirrorConfiguration, onRefusal: @escaping @Sendable (PolicyDecision) -> Void = { _ in }) {
        self.configuration = configuration
        self.policy = LivePolicy(configuration.policy)
        self.onRefusal = onRefusal
    }

    /// - Returns: nil when the name is served from local storage only.
    /// - Throws: `DENIED` for a registry that is not an upstream while unlisted ones are not allowed,
    ///   and for a registry or repository the policy refuses.
    public func route(_ name: RepositoryName, namespace: String?) throws(RegistryError) -> MirrorRoute? {
        guard let route = try unchecked(name, namespace: namespace) else { return nil }
        try check(registry: route.registry, repository: route.upstreamRepository)
        return route
    }

    /// Where `name` (with `namespace`) leads, before the registry policy is asked: what the auth
    /// rules judge (a refused route is refused later, and must not change who may ask).
    public func resolve(_ name: RepositoryName, namespace: String?) throws(RegistryError) -> MirrorRoute? {
        try unchecked(name, namespace: namespace)
    }

    /// Applies the registry policy to a pull of `repository` from `registry`.
    /// - Throws: 403 `DENIED` naming the repository and the refusing rule.
    public func check(registry: String, repository: RepositoryName) throws(RegistryError) {
        let policy = policy.current
        guard !policy.allowsEverything else { return }
        let decision = policy.decide(registry: registry, repository: repository)
        guard decision.isAllowed else {
            onRefusal(decision)
            throw decision.refusal
        }
    }

    private func unchecked(_ name: RepositoryName, namespace: String?) throws(RegistryError) -> MirrorRoute? {
        guard configuration.pullthrough else { return nil }
        if let namespace, !namespace.isEmpty {
            guard let registry = RegistryHost.canonical(namespace) else {
                throw RegistryError(.nameInvalid, "ns=\(namespace) is not a registry host (host[:port], IPv4 addresses in dotted decimal)")
            }
            return try make(registry: registry, repository: name)
        }
        let components = name.components
        if components.count >= 2 {
            switch RegistryHost.pathComponent(components[0]) {
            case .registry(let registry):
                if let rest = RepositoryName(components.dropFirst().joined(separator: "/")) {
                    return try make(registry: registry, repository: rest)
                }
            case .invalid:
                throw RegistryError(.nameInvalid, "\(components[0]) in \(name) looks like a registry host but is not one (host[:port] written host_port, IPv4 addresses in dotted decimal)")
            case .repository:
                break
            }
        }
        guard let registry = configuration.defaultRegistry else { return nil }
        // Carved out of the default route: pushed here, served from local storage only.
        if configuration.isLocal(name) { return nil }
        return try make(registry: registry, repository: name)
    }

    private func make(registry: String, repository: RepositoryName) throws(RegistryError) -> MirrorRoute? {
        guard registry == configuration.defaultRegistry || configuration.upstream(for: registry) != nil
                || configuration.allowUnlisted else {
            throw RegistryError(.denied, "registry \(registry) is not one of this mirror's upstreams (mirror.upstreams), and mirror.allowunlisted is false")
        }
        let upstream = DockerHub.normalise(repository, registry: registry)
        let local: RepositoryName
        if registry == configuration.defaultRegistry {
            // The default registry's content is stored under its bare names; one whose first
            // component names a registry would share storage with that registry's mirror
            // (`quay.io/x/y?ns=docker.io` must not reach what quay.io served).
            if upstream.components.count >= 2, RegistryHost.pathComponent(upstream.components[0]) != .repository {
                throw RegistryError(.denied, "\(registry)/\(upstream): a repository of the default registry whose first component names a registry is not mirrored (it would share storage with \(upstream.components[0]))")
            }
            local = upstream
        } else {
            guard let prefix = RegistryHost.pathForm(registry) else {
                throw RegistryError(.nameInvalid, "registry \(registry): an IPv6 literal cannot be mirrored (no repository name can hold it); name the registry by host name")
            }
            guard let prefixed = RepositoryName("\(prefix)/\(upstream.value)") else { return nil }
            local = prefixed
        }
        return MirrorRoute(localRepository: local, registry: registry, upstreamRepository: upstream)
    }

    /// `host[:port]` in canonical form (`RegistryHost`); nil if not a host.
    static func normalisedRegistry(_ text: String) -> String? {
        RegistryHost.canonical(text)
    }

    /// The registry a repository name's first component names, or nil if it is an ordinary
    /// component (or not a host in any canonical spelling).
    static func registryComponent(_ component: Substring) -> String? {
        if case .registry(let registry) = RegistryHost.pathComponent(component) { return registry }
        return nil
    }
}
