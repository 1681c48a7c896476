extension Configuration {
    /// OpenShift's `openshift` section, in the image registry's shape. Each subsection has its
    /// own reader below.
    ///
    /// - `openshift.metrics.enabled` (bool, default false) and `openshift.metrics.secret`
    ///   (string, required when enabled): Prometheus metrics at `/extensions/v2/metrics`,
    ///   for clients that send `Authorization: Bearer <secret>`.
    /// - `openshift.requests.read|write.maxrunning` (int, 0 = unlimited), `.maxinqueue`
    ///   (int, 0 = no queue), `.maxwaitinqueue` (Go duration, 0 = wait as long as it takes).
    public struct OpenShiftSettings: Sendable {
        public var metrics = MetricsSettings()
        public var requests = RequestLimitSettings()
    }

    public struct MetricsSettings: Sendable {
        public var enabled = false
        /// The bearer token a scraper must send; never logged.
        public var secret = ""
    }

    public struct RequestLimitSettings: Sendable, Equatable {
        /// GET and HEAD.
        public var read = RequestLimiter.Limits()
        /// Everything else.
        public var write = RequestLimiter.Limits()
    }

    mutating func readOpenShift(_ node: ConfigNode) throws {
        try node.expectKeys(["version", "metrics", "requests", "imagestreams"],
                            ignored: ["apiversion", "kind", "kubeconfig", "server", "auth", "audit", "cache", "quota",
                                      "pullthrough", "compatibility"])
        if let quota = node.child("quota"), try quota.bool("enabled") == true {
            throw ConfigurationError("\(quota.path).enabled: true is not supported: Wharf enforces no quotas yet (set it to false or remove it)")
        }
        if let metrics = node.child("metrics") { try readOpenShiftMetrics(metrics) }
        if let requests = node.child("requests") { try readOpenShiftRequests(requests) }
    }

    private mutating func readOpenShiftMetrics(_ node: ConfigNode) throws {
        try node.expectKeys(["enabled", "secret"])
        openshift.metrics.enabled = try node.bool("enabled") ?? false
        openshift.metrics.secret = try node.string("secret") ?? ""
        if openshift.metrics.enabled && openshift.metrics.secret.isEmpty {
            throw ConfigurationError("\(node.path).secret: required when metrics are enabled (scrapers send it as a bearer token)")
        }
    }

    private mutating func readOpenShiftRequests(_ node: ConfigNode) throws {
        try node.expectKeys(["read", "write"])
        if let read = node.child("read") { openshift.requests.read = try Self.requestLimits(read) }
        if let write = node.child("write") { openshift.requests.write = try Self.requestLimits(write) }
    }

    private static func requestLimits(_ node: ConfigNode) throws -> RequestLimiter.Limits {
        try node.expectKeys(["maxrunning", "maxinqueue", "maxwaitinqueue"])
        var limits = RequestLimiter.Limits()
        limits.maxRunning = try node.int("maxrunning", range: 0...1_000_000) ?? 0
        limits.maxInQueue = try node.int("maxinqueue", range: 0...1_000_000) ?? 0
        if let wait = try node.duration("maxwaitinqueue") {
            guard wait >= .zero else { throw ConfigurationError("\(node.path).maxwaitinqueue: must not be negative") }
            limits.maxWaitInQueue = wait
        }
        return limits
    }
}
