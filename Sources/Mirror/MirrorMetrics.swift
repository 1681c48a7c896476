import Metrics
import Policy
import Synchronization
import Upstream

/// The mirror's metrics, on the swift-metrics API (the backend is chosen by the process):
/// fills under way, bytes written to staging, how long fills take, requests to upstream
/// registries by registry, operation and outcome, and pulls the registry policy refused by rule.
///
/// The `registry` label is a configured upstream (or the default registry); any other registry
/// reached through `?ns=` counts as `other`, so the label set stays closed.
public final class MirrorMetrics: Sendable {
    /// What was asked of an upstream.
    public enum Operation: String, Sendable, CaseIterable {
        case blob = "blob_get"
        case blobHead = "blob_head"
        case manifest = "manifest_get"
        case manifestHead = "manifest_head"
        case tags = "tags_list"
    }

    private struct UpstreamKey: Hashable {
        var registry: String
        var operation: Operation
        var outcome: String
    }

    private let factory: any MetricsFactory
    private let knownRegistries: Set<String>
    private let fillsInFlight: Meter
    private let stagingBytes: Counter
    private let fillDurations: [String: Timer]
    private let upstreamRequests = Mutex<[UpstreamKey: Counter]>([:])
    /// By rule label: one value per configured policy rule plus `default`, so a closed set.
    private let refusals = Mutex<[String: Counter]>([:])

    /// - Parameter registries: the registries that get their own `registry` label value.
    public init(registries: [String], factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        knownRegistries = Set(registries)
        fillsInFlight = Meter(label: "wharf_fills_in_flight", factory: factory)
        fillsInFlight.set(0)
        stagingBytes = Counter(label: "wharf_fill_staging_bytes_total", factory: factory)
        var durations: [String: Timer] = [:]
        for outcome in ["committed", "failed"] {
            durations[outcome] = Timer(label: "wharf_fill_duration_seconds", dimensions: [("outcome", outcome)],
                                       preferredDisplayUnit: .seconds, factory: factory)
        }
        fillDurations = durations
        for registry in knownRegistries {
            for operation in Operation.allCases { _ = upstreamCounter(registry: registry, operation: operation, outcome: "ok") }
        }
    }

    /// The labels a mirror configuration gives: its upstreams and its default registry.
    public convenience init(configuration: MirrorConfiguration, factory: any MetricsFactory = MetricsSystem.factory) {
        self.init(registries: configuration.upstreams.map(\.registry) + [configuration.defaultRegistry].compactMap { $0 },
                  factory: factory)
    }

    // MARK: Fills

    func fillStarted() { fillsInFlight.increment() }

    /// A fill ended after `duration` of fetching, having written `bytes` to its staging file.
    func fillEnded(committed: Bool, bytes: Int64, duration: Duration) {
        fillsInFlight.decrement()
        if bytes > 0 { stagingBytes.increment(by: bytes) }
        fillDurations[committed ? "committed" : "failed"]?.record(duration: duration)
    }

    // MARK: Upstream requests

    /// Runs one upstream request and counts it: outcome `ok`, or the `UpstreamError` code.
    func upstream<T>(_ registry: String, _ operation: Operation,
                     _ request: () async throws(UpstreamError) -> T) async throws(UpstreamError) -> T {
        do {
            let value = try await request()
            upstreamCounter(registry: registry, operation: operation, outcome: "ok").increment()
            return value
        } catch {
            upstreamCounter(registry: registry, operation: operation, outcome: MetricLabel.snakeCase(error.code.description)).increment()
            throw error
        }
    }

    /// Counts an upstream request made elsewhere (an edge's fetch from its origin).
    func countUpstream(_ registry: String, _ operation: Operation, outcome: String) {
        upstreamCounter(registry: registry, operation: operation, outcome: outcome).increment()
    }

    private func upstreamCounter(registry: String, operation: Operation, outcome: String) -> Counter {
        let key = UpstreamKey(registry: knownRegistries.contains(registry) ? registry : "other", operation: operation, outcome: outcome)
        return upstreamRequests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "wharf_upstream_requests_total",
                                  dimensions: [("registry", key.registry), ("operation", key.operation.rawValue), ("outcome", key.outcome)],
                                  factory: factory)
            counters[key] = counter
            return counter
        }
    }

    // MARK: Policy

    /// A pull the registry policy refused, counted by the rule that refused it.
    func policyRefused(_ decision: PolicyDecision) {
        let rule = decision.ruleLabel
        refusals.withLock { counters in
            if let counter = counters[rule] { return counter }
            let counter = Counter(label: "wharf_policy_refusals_total", dimensions: [("rule", rule)], factory: factory)
            counters[rule] = counter
            return counter
        }.increment()
    }
}
