import OCI
import Policy

/// How the mirror reaches upstream registries; read from `mirror:` and Distribution's `proxy:`.
public struct MirrorConfiguration: Sendable {
    /// One upstream registry.
    public struct Upstream: Sendable, Equatable {
        /// `host[:port]` as clients name it (`?ns=`, a `/v2/<host>/…` prefix); `docker.io` for Hub.
        public var registry: String
        public var username: String?
        public var password: String?
        /// A Docker `config.json` whose `auths` hold this registry's credentials.
        public var authFile: String?
        /// TLS verification off, and plain HTTP allowed.
        public var insecure = false
        /// The scheme `proxy.remoteurl` names: used as is, never probed. Nil: HTTPS (then HTTP
        /// when insecure or on loopback).
        public var scheme: String?

        public init(registry: String) { self.registry = registry }
    }

    public var upstreams: [Upstream] = []
    /// Where bare names (no `?ns=`, no registry prefix) are pulled from; nil for none.
    public var defaultRegistry: String?
    /// Registries not listed in `upstreams` may be reached anonymously through `?ns=` or a prefix
    /// (on public addresses only). Off unless configured: a mirror is not an open proxy.
    public var allowUnlisted = false
    /// Where `certs.d/<host[:port]>/ca.crt` files are looked up.
    public var certsDirectory: String?
    /// Fills running at once; more wait for a slot.
    public var maxConcurrentFills = 32
    /// How long a tag is served before the upstream is asked again (a HEAD).
    public var tagTTL: Duration = .seconds(60)
    /// How long an upstream's confirmation that a repository holds a blob is remembered.
    public var blobRepositoryTTL: Duration = .seconds(600)
    /// OpenShift `pullthrough`: false never contacts an upstream.
    public var pullthrough = true
    /// OpenShift `mirrorpullthrough`: false streams from upstream without keeping a copy.
    public var keepCopies = true
    /// Attempts to resume a fill whose connection dropped.
    public var resumeAttempts = 4
    /// Fills from one upstream registry running at once (within `maxConcurrentFills`), so a slow
    /// upstream cannot take every slot.
    public var maxFillsPerRegistry = 8
    /// Bytes all fills may hold in staging at once; a new fill beyond it is answered 503.
    public var maxStagingBytes: Int64 = 32 << 30
    /// The longest one fill may take, its resumes included.
    public var fillTimeout: Duration = .seconds(3600)
    /// A fill whose rate stays under `fillMinRate` bytes per second for `fillMinRateWindow` fails
    /// (and is resumed, within `resumeAttempts` and `fillTimeout`).
    public var fillMinRate = 1024
    public var fillMinRateWindow: Duration = .seconds(30)
    /// `mirror.localrepositories`: bare names matching one of these are local repositories
    /// (pushed to and served from the store), not routed to the default registry.
    public var localRepositories: [RepositoryGlob] = []
    /// `policy.registries`: which registries and repositories may be pulled from, and which are insecure.
    public var policy = RegistryPolicy()

    public init() {}

    /// True when some route can reach an upstream.
    public var isEnabled: Bool { pullthrough && (defaultRegistry != nil || !upstreams.isEmpty || allowUnlisted) }

    /// True when a bare `name` is carved out of the default route (`mirror.localrepositories`).
    public func isLocal(_ name: RepositoryName) -> Bool {
        localRepositories.contains { $0.matches(name.value) }
    }

    public func upstream(for registry: String) -> Upstream? {
        upstreams.first { $0.registry == registry }
    }

    /// TLS verification off and plain HTTP allowed: the upstream says so, or the policy lists it insecure.
    public func isInsecure(_ registry: String) -> Bool {
        upstream(for: registry)?.insecure == true || policy.isInsecure(registry)
    }
}
