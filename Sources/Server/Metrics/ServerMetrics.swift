import Metrics
import Mirror
import NIOHTTP1
import Synchronization

/// The server's metrics, on the swift-metrics API: requests by route, method and status,
/// request durations, cache results and where the bytes served came from. Every label value
/// comes from a closed set (never a repository name, tag or digest).
///
/// Series whose labels are known up front are created here, so a scrape shows them at zero
/// from the start (as Distribution's `initPrometheusMetrics` does).
public final class ServerMetrics: Sendable {
    /// Where a response's bytes came from, for `wharf_cache_served_bytes_total`.
    public enum Source: String, Sendable, CaseIterable {
        case cache, upstream
    }

    private struct RequestKey: Hashable {
        var route: RequestRoute
        var method: String
        var code: UInt
    }

    private struct CacheKey: Hashable {
        var route: RequestRoute
        var result: HTTPResponse.CacheResult
    }

    private struct BytesKey: Hashable {
        var route: RequestRoute
        var source: Source
    }

    /// Routes whose responses carry a cache result.
    static let cachedRoutes: [RequestRoute] = [.blob, .manifest, .cdn]

    private let factory: any MetricsFactory
    private let requests = Mutex<[RequestKey: Counter]>([:])
    private let durations: [RequestRoute: Timer]
    private let cacheResults: [CacheKey: Counter]
    private let servedBytes: [BytesKey: Counter]
    /// CDN origin: blob downloads redirected to a signed URL.
    let cdnRedirects: Counter
    /// CDN origin: redirects not issued because signing failed (the blob was served here).
    let cdnSigningFailures: Counter
    private let edgeVerifications = Mutex<[String: Counter]>([:])

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        var durations: [RequestRoute: Timer] = [:]
        for route in RequestRoute.allCases {
            durations[route] = Timer(label: "wharf_http_request_duration_seconds", dimensions: [("route", route.rawValue)],
                                     preferredDisplayUnit: .seconds, factory: factory)
        }
        self.durations = durations
        var cacheResults: [CacheKey: Counter] = [:]
        var servedBytes: [BytesKey: Counter] = [:]
        for route in Self.cachedRoutes {
            for result in HTTPResponse.CacheResult.allCases {
                cacheResults[CacheKey(route: route, result: result)] = Counter(
                    label: "wharf_cache_results_total", dimensions: [("route", route.rawValue), ("result", result.rawValue)], factory: factory)
            }
            for source in Source.allCases {
                servedBytes[BytesKey(route: route, source: source)] = Counter(
                    label: "wharf_cache_served_bytes_total", dimensions: [("route", route.rawValue), ("source", source.rawValue)],
                    factory: factory)
            }
        }
        self.cacheResults = cacheResults
        self.servedBytes = servedBytes
        cdnRedirects = Counter(label: "wharf_cdn_redirects_total", factory: factory)
        cdnSigningFailures = Counter(label: "wharf_cdn_signing_failures_total", factory: factory)
        for outcome in Self.edgeOutcomes { _ = edgeVerificationCounter(outcome) }
    }

    /// One request, once its response was written (`completed`) or abandoned.
    func record(route: RequestRoute, method: HTTPMethod, response: HTTPResponse, duration: Duration, completed: Bool) {
        let key = RequestKey(route: route, method: method.metricLabel, code: response.status.code)
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "wharf_http_requests_total",
                                  dimensions: [("route", route.rawValue), ("method", key.method), ("code", String(key.code))],
                                  factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
        durations[route]?.record(duration: duration)
        guard let result = response.cacheResult else { return }
        cacheResults[CacheKey(route: route, result: result)]?.increment()
        // Bytes that reached the client in full; a HEAD or redirect carries none.
        guard completed, method != .HEAD, let source = Self.source(of: result) else { return }
        let bytes = response.bodyLength
        if bytes > 0 { servedBytes[BytesKey(route: route, source: source)]?.increment(by: bytes) }
    }

    /// A kept copy (`hit`, `stale`) is served from the cache; a `miss` or `join` from the
    /// upstream's bytes as they land.
    static func source(of result: HTTPResponse.CacheResult) -> Source? {
        switch result {
        case .hit, .stale: .cache
        case .miss, .join: .upstream
        case .redirect: nil
        }
    }

    // MARK: CDN edge

    /// Outcomes of an edge's signature checks: `ok`, or the verifier's reason codes.
    static let edgeOutcomes = ["ok", "malformed", "unknown_key", "bad_signature", "expired", "not_yet_valid",
                               "resource_mismatch", "ip_not_allowed"]

    /// An edge checked a signed URL; `outcome` is `ok` or a `CDNError.Code`'s description.
    func recordEdgeVerification(_ outcome: String) {
        edgeVerificationCounter(MetricLabel.snakeCase(outcome)).increment()
    }

    private func edgeVerificationCounter(_ outcome: String) -> Counter {
        // Unknown codes fold into one series: the label set stays closed.
        let label = Self.edgeOutcomes.contains(outcome) ? outcome : "other"
        return edgeVerifications.withLock { counters in
            if let counter = counters[label] { return counter }
            let counter = Counter(label: "wharf_cdn_edge_verifications_total", dimensions: [("outcome", label)], factory: factory)
            counters[label] = counter
            return counter
        }
    }
}

extension HTTPResponse.CacheResult: CaseIterable {
    public static let allCases: [HTTPResponse.CacheResult] = [.hit, .miss, .join, .redirect, .stale]
}
