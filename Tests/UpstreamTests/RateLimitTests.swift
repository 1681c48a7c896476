import HTTPClient
import OCI
import Testing
import Upstream
import UpstreamTestSupport

@Suite("rate limits", .timeLimit(.minutes(1)))
struct RateLimitTests {
    @Test func tooManyRequestsCarriesRetryAfterAndCheckSaysRateLimited() async throws {
        let fake = try FixtureProcess("http_fixture.py")
        defer { fake.stop() }
        let registry = "127.0.0.1:\(fake.int("port"))"
        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: registry), http: http)
        do {
            _ = try await client.manifest(RepositoryName("limited/app")!, .tag(OCI.Tag("v1")!))
            Issue.record("expected 429")
        } catch {
            #expect(error.code == .tooManyRequests)
            #expect(error.retryAfter == .seconds(17))
            #expect(error.registryCodes == ["TOOMANYREQUESTS"])
        }
        let report = await checkUpstream(UpstreamTarget(parsing: "\(registry)/limited/app:v1")!, options: CheckOptions())
        #expect(report.failedStep == "manifest")
        #expect(report.failure?.message == "rate limited by \(registry); retry after 17 s")
    }
}
