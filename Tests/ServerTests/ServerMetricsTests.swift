import Metrics
import MetricsTestKit
import NIOCore
import NIOHTTP1
import Prometheus
import Testing
@testable import Server

@Suite struct RequestRouteTests {
    static let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test(arguments: [
        ("/healthz", RequestRoute.health), ("/readyz", .health), ("/extensions/v2/metrics", .metrics),
        ("/v2", .base), ("/v2/", .base), ("/v2/_catalog", .catalog),
        ("/v2/library/nginx/manifests/latest", .manifest), ("/v2/a/b/c/manifests/\(digest)", .manifest),
        ("/v2/team/app/blobs/\(digest)", .blob), ("/v2/team/blobs/app/blobs/\(digest)", .blob),
        ("/v2/team/app/blobs/uploads/", .upload), ("/v2/team/app/blobs/uploads", .upload),
        ("/v2/team/app/blobs/uploads/5c1e0bd4-0000-4000-8000-000000000000", .upload),
        ("/v2/team/app/tags/list", .tags), ("/v2/team/app/referrers/\(digest)", .referrers),
        ("/docker/registry/v2/blobs/sha256/aa/\(String(repeating: "a", count: 64))/data", .cdn),
        ("/", .other), ("/v2/blobs/uploads/", .other), ("/v2/app/unknown/x", .other), ("/v3/x/manifests/y", .other),
        ("/v2/tags/list", .other), ("/extensions/v2/metrics/x", .other),
    ])
    func pathsMapToAClosedSetOfRoutes(path: String, route: RequestRoute) {
        #expect(RequestRoute(path: path[...]) == route)
    }

    @Test func onlyHealthAndMetricsBypassTheLimits() {
        #expect(RequestRoute.allCases.filter(\.isExemptFromLimits) == [.health, .metrics])
    }

    @Test func methodLabelsAreAClosedSet() {
        #expect(HTTPMethod.GET.metricLabel == "GET")
        #expect(HTTPMethod.PATCH.metricLabel == "PATCH")
        #expect(HTTPMethod.RAW(value: "BREW").metricLabel == "other")
        #expect(HTTPMethod.PROPFIND.metricLabel == "other")
    }
}

@Suite struct ServerMetricsTests {
    func response(_ status: HTTPResponseStatus, bytes: Int, cache: HTTPResponse.CacheResult?) -> HTTPResponse {
        var response = HTTPResponse(status: status, body: bytes > 0 ? .buffer(ByteBuffer(repeating: 0, count: bytes)) : .empty)
        response.cacheResult = cache
        return response
    }

    @Test func requestsAreCountedByRouteMethodAndCode() throws {
        let metrics = TestMetrics()
        let server = ServerMetrics(factory: metrics)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 10, cache: .hit), duration: .milliseconds(5), completed: true)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 10, cache: .hit), duration: .milliseconds(5), completed: true)
        server.record(route: .blob, method: .HEAD, response: response(.notFound, bytes: 0, cache: nil), duration: .milliseconds(1), completed: true)
        let gets = try metrics.expectCounter("wharf_http_requests_total", [("route", "blob"), ("method", "GET"), ("code", "200")])
        #expect(gets.totalValue == 2)
        let heads = try metrics.expectCounter("wharf_http_requests_total", [("route", "blob"), ("method", "HEAD"), ("code", "404")])
        #expect(heads.totalValue == 1)
        let durations = try metrics.expectTimer("wharf_http_request_duration_seconds", [("route", "blob")])
        #expect(durations.values == [5_000_000, 5_000_000, 1_000_000])
    }

    @Test func cacheResultsAndBytesBySource() throws {
        let metrics = TestMetrics()
        let server = ServerMetrics(factory: metrics)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 100, cache: .miss), duration: .zero, completed: true)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 100, cache: .join), duration: .zero, completed: true)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 100, cache: .hit), duration: .zero, completed: true)
        server.record(route: .manifest, method: .GET, response: response(.ok, bytes: 7, cache: .stale), duration: .zero, completed: true)
        // Not counted as bytes: a HEAD, a redirect, a body the client did not take in full.
        server.record(route: .blob, method: .HEAD, response: response(.ok, bytes: 100, cache: .hit), duration: .zero, completed: true)
        server.record(route: .blob, method: .GET, response: response(.temporaryRedirect, bytes: 0, cache: .redirect), duration: .zero, completed: true)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 100, cache: .hit), duration: .zero, completed: false)

        func results(_ route: String, _ result: String) throws -> Int64 {
            try metrics.expectCounter("wharf_cache_results_total", [("route", route), ("result", result)]).totalValue
        }
        func bytes(_ route: String, _ source: String) throws -> Int64 {
            try metrics.expectCounter("wharf_cache_served_bytes_total", [("route", route), ("source", source)]).totalValue
        }
        #expect(try results("blob", "miss") == 1)
        #expect(try results("blob", "join") == 1)
        #expect(try results("blob", "hit") == 3)
        #expect(try results("blob", "redirect") == 1)
        #expect(try results("manifest", "stale") == 1)
        #expect(try bytes("blob", "upstream") == 200)
        #expect(try bytes("blob", "cache") == 100)
        #expect(try bytes("manifest", "cache") == 7)
    }

    @Test func edgeOutcomesAreTheVerifiersReasonCodesInSnakeCase() throws {
        let metrics = TestMetrics()
        let server = ServerMetrics(factory: metrics)
        server.recordEdgeVerification("ok")
        server.recordEdgeVerification("ipNotAllowed")
        server.recordEdgeVerification("badSignature")
        server.recordEdgeVerification("somethingNew")
        for outcome in ["ok", "ip_not_allowed", "bad_signature", "other"] {
            #expect(try metrics.expectCounter("wharf_cdn_edge_verifications_total", [("outcome", outcome)]).totalValue == 1)
        }
        #expect(try metrics.expectCounter("wharf_cdn_edge_verifications_total", [("outcome", "expired")]).totalValue == 0)
    }

    /// Every series in Prometheus' text format: `wharf_` names with Prometheus suffixes, and
    /// label values from the closed sets only.
    @Test func prometheusExpositionNamesAndLabels() throws {
        let registry = PrometheusCollectorRegistry()
        let factory = MetricsExporter.makeFactory(registry: registry)
        let server = ServerMetrics(factory: factory)
        _ = RequestLimits(read: .init(maxRunning: 1), write: .init(maxRunning: 1), factory: factory)
        server.record(route: .blob, method: .GET, response: response(.ok, bytes: 5, cache: .miss), duration: .milliseconds(30), completed: true)
        let text = String(decoding: MetricsExporter(registry: registry, secret: "s").exposition(), as: UTF8.self)

        #expect(text.contains(#"wharf_http_requests_total{route="blob",method="GET",code="200"} 1"#))
        #expect(text.contains(#"wharf_cache_served_bytes_total{route="blob",source="upstream"} 5"#))
        #expect(text.contains(#"wharf_http_request_duration_seconds_bucket{route="blob",le="0.05"} 1"#))
        #expect(text.contains(#"wharf_http_request_duration_seconds_bucket{route="blob",le="0.025"} 0"#))
        #expect(text.contains(#"wharf_request_limiter_rejections_total{kind="write",reason="queue_full"} 0"#))
        #expect(text.contains(#"wharf_cdn_redirects_total 0"#))
        let allowed: [String: Set<String>] = [
            "route": Set(RequestRoute.allCases.map(\.rawValue)), "method": ["GET"], "code": ["200"],
            "result": ["hit", "miss", "join", "redirect", "stale"], "source": ["cache", "upstream"],
            "kind": ["read", "write"], "reason": ["queue_full", "wait_timeout", "cancelled"],
            "outcome": Set(ServerMetrics.edgeOutcomes), "le": [],
        ]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            #expect(name.hasPrefix("wharf_"), "\(line)")
            let isHistogramPart = name.hasSuffix("_bucket") || name.hasSuffix("_sum") || name.hasSuffix("_count")
            #expect(name.hasSuffix("_total") || name.hasSuffix("_seconds") || name.hasSuffix("_bytes") || isHistogramPart
                    || name.hasSuffix("_depth") || name.hasSuffix("_running"), "\(line)")
            guard let open = line.firstIndex(of: "{"), let close = line.firstIndex(of: "}") else { continue }
            for pair in line[line.index(after: open)..<close].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                let key = String(parts[0]), value = String(parts[1].dropFirst().dropLast())
                guard key != "le" else { continue }
                #expect(allowed[key]?.contains(value) == true, "\(line): \(key)=\(value)")
            }
        }
    }

    @Test func theScrapeNeedsTheExactSecretAsABearerToken() {
        let exporter = MetricsExporter(registry: PrometheusCollectorRegistry(), secret: "s3cret")
        #expect(exporter.isAuthorized(["Authorization": "Bearer s3cret"]))
        #expect(exporter.isAuthorized(["Authorization": "bearer s3cret"]))
        #expect(!exporter.isAuthorized([:]))
        #expect(!exporter.isAuthorized(["Authorization": "Bearer s3cre"]))
        #expect(!exporter.isAuthorized(["Authorization": "Bearer s3cretX"]))
        #expect(!exporter.isAuthorized(["Authorization": "Basic s3cret"]))
        #expect(!exporter.isAuthorized(["Authorization": "s3cret"]))
        #expect(!MetricsExporter(registry: PrometheusCollectorRegistry(), secret: "").isAuthorized(["Authorization": "Bearer "]))
    }
}
