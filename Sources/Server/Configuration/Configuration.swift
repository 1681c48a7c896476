import CDN
import Logging
import Mirror
import Notifications
import OCI
import Policy
import Storage

/// Wharf's configuration: Distribution's `config.yml` shape, with OpenShift's
/// `middleware.repository` options, read from YAML plus `REGISTRY_*` overrides.
public struct Configuration: Sendable {
    public var log = LogSettings()
    public var http = HTTPSettings()
    public var storage = StorageSettings()
    public var repository = RepositoryOptions()
    public var proxy: ProxySettings?
    /// Wharf's `mirror:` section: upstream registries reached through `?ns=` or a path prefix.
    public var mirror: MirrorSettings?
    /// Distribution's `cloudfront` storage middleware: blob GETs redirected to signed URLs.
    public var cloudFront: CloudFrontConfiguration?
    /// Wharf's `cdn.edge`: this instance verifies signed blob URLs and serves them.
    public var cdnEdge: CDNEdgeConfiguration?
    /// `auth`: htpasswd users, Wharf's token endpoint and access rules; nil for an open registry.
    public var auth: AuthSettings?
    /// `notifications`: endpoints that receive registry events.
    public var notifications = NotificationsConfiguration()
    /// `policy.registries`: which upstream registries and repositories may be pulled from.
    public var policy = RegistryPolicy()
    /// `openshift.imagestreams.directory`: OpenShift ImageStreams by namespace, watched for changes.
    public var imageStreamsDirectory: String?
    /// `openshift.imagestreams.admintoken`: the ImageStream API's bearer token (the API is off without one).
    public var imageStreamsAdminToken: String?
    /// The most repositories one catalog page may hold (`catalog.maxentries`).
    public var catalogMaxEntries = 1000
    /// OpenShift's `openshift` section: metrics and request limits.
    public var openshift = OpenShiftSettings()
    /// `mirror.cache` (and an explicit `proxy.ttl`): when cached blobs are removed; off by default.
    public var cacheRetention = CacheRetention()
    /// Things in the file Wharf accepted but does not act on; logged at start-up.
    public var warnings: [String] = []

    public struct LogSettings: Sendable {
        public var level: Logger.Level = .info
        /// `text`, `json`, `logfmt` (or Distribution's `logstash`, read as `json`).
        public var formatter = "text"
        public var fields: [(String, String)] = []
        public var accessLogDisabled = false
    }

    public struct HTTPSettings: Sendable {
        public var host = "0.0.0.0"
        public var port = 5000
        /// Extra headers on every response (`http.headers`).
        public var headers: [(String, String)] = []
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// `http.tls.clientcas`: clients must present a certificate from one of these CAs.
        public var tlsClientCAs: [String] = []
        /// `http.tls.clientauth` (only with `clientcas`).
        public var tlsClientAuth = TLSSettings.ClientAuth.requireAndVerify
        /// `http.tls.minimumtls`.
        public var tlsMinimumVersion = TLSSettings.MinimumVersion.tls12
        public var drainTimeout: Duration = .seconds(60)
        /// `http.timeouts` (header, idle, body) and `http.minbodyrate`.
        public var timeouts = ConnectionTimeouts()
        /// `http.maxconnections`: 0 means no limit.
        public var maxConnections = 10_000
    }

    public struct StorageSettings: Sendable {
        public var rootDirectory = "/var/lib/registry"
        public var deleteEnabled = false
        public var redirectDisabled = false
        public var readOnly = false
        /// `storage.maintenance.uploadpurging`; on by default, as in Distribution.
        public var uploadPurging = UploadPurging()
    }

    /// OpenShift's `openshift` repository middleware options; parsed and checked now,
    /// acted on by the mirror.
    public struct RepositoryOptions: Sendable, Equatable {
        public var acceptSchema2 = true
        public var pullthrough = true
        public var mirrorPullthrough = true
        public var enforceQuota = false
        public var projectCacheTTL: Duration = .seconds(60)
        public var blobRepositoryCacheTTL: Duration = .seconds(600)
    }

    /// Wharf's `mirror` section, before `proxy` and the OpenShift options are folded in.
    public struct MirrorSettings: Sendable {
        public var base = MirrorConfiguration()
    }

    /// Distribution's `proxy` section: the default upstream of a pull-through cache.
    public struct ProxySettings: Sendable {
        public var remoteURL: String
        public var username: String?
        public var password: String?
        /// As given; nil when absent. Unlike Distribution (7 days by default), nothing expires
        /// unless asked: a mirror cut off from its upstream must keep serving what it holds.
        public var ttl: Duration?
    }

    public init() {}
}

extension Configuration {
    /// What `wharf serve` runs with when no file is given: port 5000, storage in `./wharf-data`.
    public static let embeddedDefaultYAML = """
        version: 0.1
        log:
          level: info
          formatter: text
        http:
          addr: :5000
        storage:
          filesystem:
            rootdirectory: ./wharf-data
          delete:
            enabled: true
        """

    /// Reads YAML text, applies `REGISTRY_*` variables from `environment`, and validates.
    public static func load(yaml: String, environment: [String: String]) throws -> Configuration {
        var tree = try ConfigValue.parse(yaml: yaml)
        let overridden = tree.applyOverrides(from: environment)
        let warnings = WarningSink()
        var configuration = try Configuration(ConfigNode(tree, overridden: Set(overridden), warnings: warnings))
        // Some readers append to `warnings` directly; keep theirs after the sink's.
        configuration.warnings = warnings.messages + configuration.warnings
        return configuration
    }

    init(_ root: ConfigNode) throws {
        try root.expectKeys(
            ["version", "log", "http", "storage", "middleware", "proxy", "catalog", "mirror", "cdn", "openshift", "auth", "notifications", "policy",
             "validation"],
            ignored: ["health", "redis", "reporting", "compatibility",
                      "loglevel", "tags"])
        guard let version = try root.string("version") else { throw ConfigurationError("version: required (use 0.1)") }
        guard version == "0.1" else { throw ConfigurationError("version: \"\(version)\" is not supported (use 0.1)") }
        try readLog(root.section("log"))
        try readHTTP(root.section("http"))
        guard let storageNode = root.child("storage") else {
            throw ConfigurationError("storage: required (e.g. storage.filesystem.rootdirectory: /var/lib/registry)")
        }
        if case .scalar(let driver) = storageNode.value {
            // `REGISTRY_STORAGE=filesystem` selects a driver with its defaults, as in Distribution.
            guard driver == "filesystem" else {
                throw ConfigurationError("storage: \"\(driver)\" is not a supported storage driver; use filesystem")
            }
        } else {
            try readStorage(storageNode)
        }
        if let validation = root.child("validation") {
            // Wharf always checks what it can of a manifest; URL rules it cannot check must not look enforced.
            try validation.expectKeys(["enabled", "disabled", "manifests"])
            _ = try validation.bool("enabled")
            _ = try validation.bool("disabled")
            if validation.child("manifests") != nil {
                throw ConfigurationError("validation.manifests: Wharf does not check manifest URLs against allow/deny rules; remove the key")
            }
        }
        try readMiddleware(root.section("middleware"))
        if let proxy = root.child("proxy") { try readProxy(proxy) }
        if let mirror = root.child("mirror") { try readMirror(mirror) }
        if let cdn = root.child("cdn") { try readCDN(cdn) }
        if let openshift = root.child("openshift") {
            try readOpenShift(openshift)
            try readImageStreams(openshift)
        }
        if let auth = root.child("auth") { self.auth = try AuthSettings.read(auth) }
        if let notifications = root.child("notifications") { try readNotifications(notifications) }
        if let policy = root.child("policy") { try readPolicy(policy) }
        let catalog = try root.section("catalog")
        try catalog.expectKeys(["maxentries"])
        catalogMaxEntries = try catalog.int("maxentries", range: 1...100_000) ?? catalogMaxEntries
    }

    private mutating func readLog(_ node: ConfigNode) throws {
        try node.expectKeys(["level", "formatter", "fields", "accesslog", "reportcaller", "hooks"])
        if let level = try node.string("level") {
            switch level.lowercased() {
            case "error": log.level = .error
            case "warn", "warning": log.level = .warning
            case "info": log.level = .info
            case "debug": log.level = .debug
            case "trace": log.level = .trace
            default: throw ConfigurationError("log.level: \"\(level)\" is not one of error, warn, info, debug")
            }
        }
        if let formatter = try node.string("formatter") {
            guard ["text", "json", "logfmt", "logstash"].contains(formatter) else {
                throw ConfigurationError("log.formatter: \"\(formatter)\" is not one of text, json, logfmt")
            }
            log.formatter = formatter == "logstash" ? "json" : formatter
        }
        log.fields = try node.stringMap("fields")
        if node.child("hooks") != nil {
            throw ConfigurationError("log.hooks: Wharf sends no mail on errors; remove the key (alert on the logs or metrics instead)")
        }
        if let accessLog = node.child("accesslog") {
            try accessLog.expectKeys(["disabled"])
            log.accessLogDisabled = try accessLog.bool("disabled") ?? false
        }
    }

    private mutating func readHTTP(_ node: ConfigNode) throws {
        try node.expectKeys(["addr", "net", "prefix", "host", "secret", "relativeurls", "draintimeout", "tls", "headers",
                             "debug", "http2", "h2c", "timeouts", "minbodyrate", "maxconnections"])
        if let addr = try node.string("addr") {
            guard let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]), (0...65535).contains(port) else {
                throw ConfigurationError("http.addr: \"\(addr)\" is not host:port or :port")
            }
            var host = String(addr[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            http.host = host.isEmpty ? "0.0.0.0" : host
            http.port = port
        }
        if let net = try node.string("net"), net != "tcp" {
            throw ConfigurationError("http.net: \"\(net)\" is not supported (only tcp)")
        }
        if let prefix = try node.string("prefix"), prefix != "/" && !prefix.isEmpty {
            throw ConfigurationError("http.prefix: \"\(prefix)\" is not supported; serve Wharf at the root")
        }
        _ = try node.string("host")
        _ = try node.string("secret")
        _ = try node.bool("relativeurls")
        http.drainTimeout = try node.duration("draintimeout") ?? http.drainTimeout
        if let tls = node.child("tls") {
            try tls.expectKeys(["certificate", "key", "clientcas", "clientauth", "minimumtls", "ciphersuites", "letsencrypt"])
            for key in ["letsencrypt", "ciphersuites"] where tls.child(key) != nil {
                throw ConfigurationError("http.tls.\(key): not supported by Wharf; remove the key (a certificate and key are required for TLS)")
            }
            http.tlsCertificate = try tls.string("certificate")
            http.tlsKey = try tls.string("key")
            if (http.tlsCertificate == nil) != (http.tlsKey == nil) {
                throw ConfigurationError("http.tls: certificate and key must be given together")
            }
            http.tlsClientCAs = try tls.stringList("clientcas")?.filter { !$0.isEmpty } ?? []
            if let clientAuth = try tls.string("clientauth") {
                guard let mode = TLSSettings.ClientAuth(rawValue: clientAuth) else {
                    throw ConfigurationError("http.tls.clientauth: \"\(clientAuth)\" is not supported; use "
                        + TLSSettings.ClientAuth.allCases.map(\.rawValue).joined(separator: " or "))
                }
                guard !http.tlsClientCAs.isEmpty else {
                    throw ConfigurationError("http.tls.clientauth: needs http.tls.clientcas (the CAs client certificates are verified against)")
                }
                http.tlsClientAuth = mode
            }
            if let minimum = try tls.string("minimumtls") {
                guard let version = TLSSettings.MinimumVersion(rawValue: minimum.lowercased()) else {
                    throw ConfigurationError("http.tls.minimumtls: \"\(minimum)\" is not supported; use tls1.2 or tls1.3 "
                        + "(TLS 1.0 and 1.1 are never offered)")
                }
                http.tlsMinimumVersion = version
            }
            if http.tlsCertificate == nil && (!http.tlsClientCAs.isEmpty || tls.child("minimumtls") != nil) {
                throw ConfigurationError("http.tls: clientcas and minimumtls need certificate and key")
            }
        }
        if let timeouts = node.child("timeouts") {
            try timeouts.expectKeys(["header", "idle", "body"])
            http.timeouts.header = try timeouts.duration("header") ?? http.timeouts.header
            http.timeouts.idle = try timeouts.duration("idle") ?? http.timeouts.idle
            http.timeouts.body = try timeouts.duration("body") ?? http.timeouts.body
            for (key, value) in [("header", http.timeouts.header), ("idle", http.timeouts.idle), ("body", http.timeouts.body)]
            where value < .zero || (value > .zero && value < .milliseconds(100)) {
                throw ConfigurationError("http.timeouts.\(key): \(value) is too short; at least 100ms, or 0 to turn it off")
            }
        }
        if let rate = try node.byteSize("minbodyrate") {
            guard rate >= 0 else { throw ConfigurationError("http.minbodyrate: must not be negative") }
            http.timeouts.minimumBodyRate = rate
        }
        http.maxConnections = try node.int("maxconnections", range: 0...1_000_000) ?? http.maxConnections
        if let headers = node.child("headers") {
            guard case .map(let entries) = headers.value else { throw ConfigurationError("http.headers: must be a mapping") }
            for entry in entries {
                switch entry.value {
                case .scalar(let value): http.headers.append((entry.key, value))
                case .list(let values):
                    for case .scalar(let value) in values { http.headers.append((entry.key, value)) }
                default: throw ConfigurationError("http.headers.\(entry.key): must be a string or a list of strings")
                }
            }
        }
    }

    private mutating func readStorage(_ node: ConfigNode) throws {
        let drivers = ["s3", "azure", "gcs", "inmemory", "swift", "oss"]
        if case .map(let entries) = node.value, let other = entries.first(where: { drivers.contains($0.key.lowercased()) }) {
            throw ConfigurationError("storage.\(other.key): this storage driver is not supported; use storage.filesystem")
        }
        try node.expectKeys(["filesystem", "delete", "redirect", "cache", "maintenance", "tag"])
        guard node.value["filesystem"] != nil else {
            throw ConfigurationError("storage: no storage driver given (use storage.filesystem)")
        }
        let filesystem = try node.section("filesystem")
        try filesystem.expectKeys(["rootdirectory", "maxthreads"])
        storage.rootDirectory = try filesystem.string("rootdirectory") ?? storage.rootDirectory
        _ = try filesystem.int("maxthreads", range: 25...10_000)
        if let delete = node.child("delete") {
            try delete.expectKeys(["enabled"])
            storage.deleteEnabled = try delete.bool("enabled") ?? false
        }
        if let redirect = node.child("redirect") {
            try redirect.expectKeys(["disable"])
            storage.redirectDisabled = try redirect.bool("disable") ?? false
        }
        if let cache = node.child("cache") {
            try cache.expectKeys(["blobdescriptor", "blobdescriptorsize", "layerinfo"])
            if let kind = try cache.string("blobdescriptor") ?? cache.string("layerinfo"), kind != "inmemory" {
                throw ConfigurationError("storage.cache.blobdescriptor: \"\(kind)\" is not supported (only inmemory)")
            }
            _ = try cache.int("blobdescriptorsize")
        }
        if let maintenance = node.child("maintenance") {
            try maintenance.expectKeys(["uploadpurging", "readonly"])
            if let purging = maintenance.child("uploadpurging") {
                try purging.expectKeys(["enabled", "age", "interval", "dryrun"])
                var settings = storage.uploadPurging
                settings.enabled = try purging.bool("enabled") ?? settings.enabled
                settings.dryRun = try purging.bool("dryrun") ?? settings.dryRun
                for (key, minimum) in [("age", Duration.seconds(1)), ("interval", .seconds(1))] {
                    guard let value = try purging.duration(key) else { continue }
                    guard value >= minimum else {
                        throw ConfigurationError("storage.maintenance.uploadpurging.\(key): \(value) is under a second (a bare number is nanoseconds; write e.g. 168h)")
                    }
                    if key == "age" { settings.age = value } else { settings.interval = value }
                }
                storage.uploadPurging = settings
            }
            if let readOnly = maintenance.child("readonly") {
                try readOnly.expectKeys(["enabled"])
                storage.readOnly = try readOnly.bool("enabled") ?? false
            }
        }
        if let tag = node.child("tag") {
            try tag.expectKeys(["concurrencylimit"])
            _ = try tag.int("concurrencylimit")
        }
    }

    private mutating func readMiddleware(_ node: ConfigNode) throws {
        try node.expectKeys(["registry", "repository", "storage"])
        for kind in ["registry", "repository", "storage"] {
            for entry in try node.list(kind) {
                try entry.expectKeys(["name", "options", "disabled"])
                guard let name = try entry.string("name") else { throw ConfigurationError("\(entry.path).name: required") }
                let options = try entry.section("options")
                switch (kind, name) {
                case ("repository", "openshift"):
                    try readOpenShiftOptions(options)
                case ("registry", "openshift"), ("storage", "openshift"):
                    break
                case ("storage", "cloudfront"):
                    guard try entry.bool("disabled") != true else { break }
                    do {
                        let parsed = try CloudFrontConfiguration.parse(try options.scalarMap(), keyPath: "\(entry.path).options")
                        warnings += parsed.warnings
                        cloudFront = parsed
                    } catch let error as CDNError {
                        throw ConfigurationError(error.message)
                    }
                case ("storage", "redirect"):
                    warnings.append("\(entry.path): storage middleware \(name) is not supported by Wharf yet; ignored")
                default:
                    throw ConfigurationError("\(entry.path).name: unknown \(kind) middleware \"\(name)\"")
                }
            }
        }
    }

    private mutating func readOpenShiftOptions(_ node: ConfigNode) throws {
        try node.expectKeys(["acceptschema2", "pullthrough", "mirrorpullthrough", "enforcequota", "projectcachettl",
                             "blobrepositorycachettl", "dockerregistryurl"])
        repository.acceptSchema2 = try node.bool("acceptschema2") ?? repository.acceptSchema2
        repository.pullthrough = try node.bool("pullthrough") ?? repository.pullthrough
        repository.mirrorPullthrough = try node.bool("mirrorpullthrough") ?? repository.mirrorPullthrough
        repository.enforceQuota = try node.bool("enforcequota") ?? repository.enforceQuota
        // Accepting it would let an operator believe pushes are held to a quota; none is enforced yet.
        if repository.enforceQuota {
            throw ConfigurationError("\(node.path).enforcequota: true is not supported: Wharf enforces no quotas yet (set it to false or remove it)")
        }
        repository.projectCacheTTL = try node.duration("projectcachettl") ?? repository.projectCacheTTL
        repository.blobRepositoryCacheTTL = try node.duration("blobrepositorycachettl") ?? repository.blobRepositoryCacheTTL
        _ = try node.string("dockerregistryurl")
    }

    private mutating func readCDN(_ node: ConfigNode) throws {
        try node.expectKeys(["edge"])
        guard let edge = node.child("edge") else { return }
        var options = try edge.scalarMapIgnoring("keys")
        options.removeValue(forKey: "keys")
        let keys = try edge.list("keys").map { try $0.scalarMap() }
        do {
            cdnEdge = try CDNEdgeConfiguration.parse(options: options, keys: keys, keyPath: edge.path)
        } catch {
            throw ConfigurationError(error.message)
        }
    }

    private mutating func readMirror(_ node: ConfigNode) throws {
        try node.expectKeys(["default", "allowunlisted", "certsdirectory", "maxconcurrentfills", "tagttl", "resumeattempts", "upstreams", "cache",
                             "maxfillsperregistry", "maxstagingbytes", "fill", "localrepositories"])
        if let cache = node.child("cache") {
            try cache.expectKeys(["maxsize", "ttl", "interval"])
            if let maxSize = try cache.byteSize("maxsize") {
                guard maxSize > 0 else {
                    throw ConfigurationError("mirror.cache.maxsize: 0 would remove every fetched blob; leave it out for no limit")
                }
                cacheRetention.maxSize = maxSize
            }
            if let ttl = try cache.duration("ttl") { cacheRetention.ttl = try Self.retentionTTL(ttl, key: "mirror.cache.ttl") }
            if let interval = try cache.duration("interval") {
                guard interval >= .seconds(1) else {
                    throw ConfigurationError("mirror.cache.interval: \(interval) is under a second (a bare number is nanoseconds; write e.g. 1m)")
                }
                cacheRetention.interval = interval
            }
            if !cacheRetention.isEnabled {
                warnings.append("mirror.cache: neither maxsize nor ttl is set, so nothing is ever removed")
            }
        }
        var settings = MirrorConfiguration()
        if let text = try node.string("default") {
            guard let registry = RegistryHost.canonical(text) else {
                throw ConfigurationError("mirror.default: \"\(text)\" is not a registry host[:port] (IPv4 addresses in dotted decimal)")
            }
            settings.defaultRegistry = registry
        }
        for text in try node.stringList("localrepositories") ?? [] {
            guard let glob = RepositoryGlob(text) else {
                throw ConfigurationError("mirror.localrepositories: \"\(text)\" is not a repository pattern (lowercase name characters, / and *)")
            }
            settings.localRepositories.append(glob)
        }
        settings.allowUnlisted = try node.bool("allowunlisted") ?? false
        settings.certsDirectory = try node.string("certsdirectory")
        settings.maxConcurrentFills = try node.int("maxconcurrentfills", range: 1...10_000) ?? settings.maxConcurrentFills
        settings.tagTTL = try node.duration("tagttl") ?? settings.tagTTL
        settings.resumeAttempts = try node.int("resumeattempts", range: 1...100) ?? settings.resumeAttempts
        try Self.readFillBounds(node, into: &settings)
        for entry in try node.list("upstreams") {
            try entry.expectKeys(["registry", "username", "password", "authfile", "insecure"])
            guard let text = try entry.string("registry"), !text.contains("/"), let registry = RegistryHost.canonical(text) else {
                throw ConfigurationError("\(entry.path).registry: required, a host[:port] such as docker.io or registry.example:5000 (IPv4 addresses in dotted decimal)")
            }
            var upstream = MirrorConfiguration.Upstream(registry: registry)
            upstream.username = try entry.string("username")
            upstream.password = try entry.string("password")
            upstream.authFile = try entry.string("authfile")
            upstream.insecure = try entry.bool("insecure") ?? false
            if upstream.username != nil && upstream.authFile != nil {
                throw ConfigurationError("\(entry.path): give username/password or authfile, not both")
            }
            settings.upstreams.append(upstream)
        }
        mirror = MirrorSettings(base: settings)
    }

    /// `mirror.maxfillsperregistry`, `mirror.maxstagingbytes` and `mirror.fill`: what one fill, and
    /// one upstream, may take.
    static func readFillBounds(_ node: ConfigNode, into settings: inout MirrorConfiguration) throws {
        settings.maxFillsPerRegistry = try node.int("maxfillsperregistry", range: 1...10_000) ?? settings.maxFillsPerRegistry
        if let bytes = try node.byteSize("maxstagingbytes") {
            guard bytes >= 1 << 20 else {
                throw ConfigurationError("mirror.maxstagingbytes: \(bytes) bytes is under 1 MiB; no blob could be fetched")
            }
            settings.maxStagingBytes = bytes
        }
        guard let fill = node.child("fill") else { return }
        try fill.expectKeys(["timeout", "minrate", "minratewindow"])
        if let timeout = try fill.duration("timeout") {
            guard timeout >= .seconds(1), timeout <= .seconds(7 * 24 * 3600) else {
                throw ConfigurationError("mirror.fill.timeout: \(timeout) is outside 1s...168h (a bare number is nanoseconds; write e.g. 30m)")
            }
            settings.fillTimeout = timeout
        }
        if let rate = try fill.byteSize("minrate") {
            guard rate <= Int64(Int32.max) else {
                throw ConfigurationError("mirror.fill.minrate: \(rate) bytes per second is too large")
            }
            settings.fillMinRate = Int(rate)
        }
        if let window = try fill.duration("minratewindow") {
            guard window >= .seconds(1), window <= .seconds(3600) else {
                throw ConfigurationError("mirror.fill.minratewindow: \(window) is outside 1s...1h")
            }
            settings.fillMinRateWindow = window
        }
    }

    /// The mirror's configuration, or nil when neither `mirror` nor `proxy` is configured.
    public var mirrorConfiguration: MirrorConfiguration? {
        guard mirror != nil || proxy != nil || imageStreamsDirectory != nil else { return nil }
        var settings = mirror?.base ?? MirrorConfiguration()
        if mirror == nil { settings.allowUnlisted = false }
        if let proxy, let registry = Self.registryHost(of: proxy.remoteURL) {
            settings.defaultRegistry = settings.defaultRegistry ?? registry
            if settings.upstream(for: registry) == nil {
                var upstream = MirrorConfiguration.Upstream(registry: registry)
                upstream.username = proxy.username
                upstream.password = proxy.password
                upstream.insecure = proxy.remoteURL.hasPrefix("http://")
                upstream.scheme = proxy.remoteURL.hasPrefix("http://") ? "http" : "https"
                settings.upstreams.append(upstream)
            }
        }
        settings.pullthrough = repository.pullthrough
        settings.keepCopies = repository.mirrorPullthrough
        settings.blobRepositoryTTL = repository.blobRepositoryCacheTTL
        settings.policy = policy
        return settings
    }

    /// `host[:port]` of a URL, with Docker Hub's API host folded into `docker.io`.
    /// A retention TTL as configured: 0 means never; anything else under a second is a mistake
    /// (a bare number is nanoseconds, as in Distribution: `86400` would empty the cache).
    static func retentionTTL(_ ttl: Duration, key: String) throws -> Duration? {
        if ttl == .zero { return nil }
        guard ttl >= .seconds(1) else {
            throw ConfigurationError("\(key): \(ttl) is under a second (a bare number is nanoseconds; write e.g. 168h, or 0 for never)")
        }
        return ttl
    }

    static func registryHost(of url: String) -> String? {
        var rest = Substring(url)
        for prefix in ["https://", "http://"] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count) }
        let host = rest.split(separator: "/", maxSplits: 1).first.map { String($0).lowercased() } ?? ""
        guard !host.isEmpty else { return nil }
        return RegistryHost.canonical(host)
    }

    private mutating func readProxy(_ node: ConfigNode) throws {
        try node.expectKeys(["remoteurl", "username", "password", "ttl", "exec"])
        guard let remote = try node.string("remoteurl"), remote.hasPrefix("http://") || remote.hasPrefix("https://") else {
            throw ConfigurationError("proxy.remoteurl: required, an http:// or https:// URL")
        }
        var settings = ProxySettings(remoteURL: remote)
        settings.username = try node.string("username")
        settings.password = try node.string("password")
        if node.child("exec") != nil {
            throw ConfigurationError("proxy.exec: credential helpers are not supported; use proxy.username and proxy.password, or mirror.upstreams[].authfile")
        }
        settings.ttl = try node.duration("ttl")
        // `ttl: 0` is Distribution's "never expire".
        if let ttl = settings.ttl { cacheRetention.ttl = try Self.retentionTTL(ttl, key: "proxy.ttl") }
        proxy = settings
    }
}
