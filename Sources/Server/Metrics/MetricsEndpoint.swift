import Logging
import Metrics
import NIOCore
import NIOHTTP1
import OCI
import Prometheus

/// The process's Prometheus registry: swift-metrics' backend once `bootstrap` ran.
public struct MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The bearer token a scraper must present (`openshift.metrics.secret`).
    let secret: String

    init(registry: PrometheusCollectorRegistry, secret: String) {
        self.registry = registry
        self.secret = secret
    }

    /// Makes Prometheus the backend of every metric the process creates from now on. Call it
    /// once per process (swift-metrics allows one bootstrap), before any metric is created.
    public static func bootstrap(secret: String) -> MetricsExporter {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(makeFactory(registry: registry))
        return MetricsExporter(registry: registry, secret: secret)
    }

    /// Prometheus with bucket bounds for how long Wharf's work takes: requests and fills can
    /// run for minutes on big blobs.
    static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(300),
        ]
        factory.durationHistogramBuckets["wharf_fill_duration_seconds"] = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
            .seconds(120), .seconds(300), .seconds(600), .seconds(1800),
        ]
        return factory
    }

    /// The scrape: Prometheus' text exposition format.
    func exposition() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 << 10)
        registry.emit(into: &bytes)
        return bytes
    }

    /// `Authorization: Bearer <secret>`, compared in constant time.
    func isAuthorized(_ headers: HTTPHeaders) -> Bool {
        for value in headers["authorization"] {
            let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { continue }
            if Self.constantTimeEqual(Array(parts[1].utf8), Array(secret.utf8)) { return true }
        }
        return false
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0xff)
        }
        return difference == 0
    }
}

/// Serves `/extensions/v2/metrics` (OpenShift's path) in front of another handler, outside
/// client authentication: the scraper proves itself with the metrics secret instead.
public struct MetricsEndpoint: HTTPHandler {
    public static let path = "/extensions/v2/metrics"

    let inner: any HTTPHandler
    /// Nil when metrics are disabled: the path answers 404.
    let exporter: MetricsExporter?

    public init(inner: any HTTPHandler, exporter: MetricsExporter?) {
        self.inner = inner
        self.exporter = exporter
    }

    public func admit(_ request: HTTPRequest) async -> HTTPResponse? {
        request.path == Self.path ? nil : await inner.admit(request)
    }

    public func handle(_ request: HTTPRequest, body: RequestBody, logger: Logger) async -> HTTPResponse {
        guard request.path == Self.path else { return await inner.handle(request, body: body, logger: logger) }
        let includeBody = request.method != .HEAD
        guard let exporter else {
            return RegistryError(.unsupported, "metrics are disabled (openshift.metrics.enabled is false)", status: 404)
                .response(includeBody: includeBody)
        }
        guard request.method == .GET || request.method == .HEAD else {
            return RegistryError(.unsupported, "\(request.method) is not supported on the metrics endpoint")
                .response(includeBody: includeBody)
        }
        guard exporter.isAuthorized(request.headers) else {
            return RegistryError(.unauthorized, "the metrics endpoint needs the metrics secret as a bearer token (Authorization: Bearer <openshift.metrics.secret>)",
                                 headers: [("WWW-Authenticate", #"Bearer realm="wharf-metrics""#)])
                .response(includeBody: includeBody)
        }
        let bytes = exporter.exposition()
        let headers: HTTPHeaders = ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"]
        guard includeBody else {
            var head = headers
            head.add(name: "Content-Length", value: String(bytes.count))
            return HTTPResponse(status: .ok, headers: head, body: .headOnly)
        }
        return HTTPResponse(status: .ok, headers: headers, body: .buffer(ByteBuffer(bytes: bytes)))
    }
}
