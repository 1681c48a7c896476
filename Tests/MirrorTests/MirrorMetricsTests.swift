import MetricsTestKit
import Testing
import Upstream
@testable import Mirror

@Suite struct MirrorMetricsTests {
    @Test func upstreamRequestsAreCountedByRegistryOperationAndOutcome() async throws {
        let metrics = TestMetrics()
        let mirror = MirrorMetrics(registries: ["docker.io", "quay.io"], factory: metrics)
        _ = try await mirror.upstream("docker.io", .blob) { () async throws(UpstreamError) in 1 }
        _ = try? await mirror.upstream("docker.io", .manifest) { () async throws(UpstreamError) -> Int in
            throw UpstreamError(.tooManyRequests, "slow down", registry: "docker.io")
        }
        // A registry reached through ?ns= that is not configured: its name never becomes a label.
        _ = try await mirror.upstream("random.example:5000", .blobHead) { () async throws(UpstreamError) in 1 }

        func count(_ registry: String, _ operation: String, _ outcome: String) throws -> Int64 {
            try metrics.expectCounter("wharf_upstream_requests_total",
                                      [("registry", registry), ("operation", operation), ("outcome", outcome)]).totalValue
        }
        #expect(try count("docker.io", "blob_get", "ok") == 1)
        #expect(try count("docker.io", "manifest_get", "too_many_requests") == 1)
        #expect(try count("other", "blob_head", "ok") == 1)
        // Known registries' series exist from the start.
        #expect(try count("quay.io", "blob_get", "ok") == 0)
        #expect(!metrics.counters.contains { $0.dimensions.contains { $0.1.contains("random") } })
    }

    @Test func fillsInFlightStagingBytesAndDurations() throws {
        let metrics = TestMetrics()
        let mirror = MirrorMetrics(registries: [], factory: metrics)
        mirror.fillStarted()
        mirror.fillStarted()
        #expect(try metrics.expectMeter("wharf_fills_in_flight").lastValue == 2)
        mirror.fillEnded(committed: true, bytes: 1000, duration: .seconds(2))
        mirror.fillEnded(committed: false, bytes: 24, duration: .milliseconds(10))
        #expect(try metrics.expectMeter("wharf_fills_in_flight").lastValue == 0)
        #expect(try metrics.expectCounter("wharf_fill_staging_bytes_total").totalValue == 1024)
        #expect(try metrics.expectTimer("wharf_fill_duration_seconds", [("outcome", "committed")]).values == [2_000_000_000])
        #expect(try metrics.expectTimer("wharf_fill_duration_seconds", [("outcome", "failed")]).values == [10_000_000])
    }

    @Test(arguments: [("notFound", "not_found"), ("ipNotAllowed", "ip_not_allowed"), ("ok", "ok"), ("io", "io")])
    func errorCodesBecomeSnakeCaseLabels(code: String, label: String) {
        #expect(MetricLabel.snakeCase(code) == label)
    }
}
