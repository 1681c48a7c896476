import Foundation
import HTTPClient
import OCI
import Testing
@testable import Upstream
import UpstreamTestSupport

@Suite("401 with a cached token", .timeLimit(.minutes(2)))
struct TokenRetryTests {
    @Test func rejectedTokenIsReplacedOnceAndTheRequestRetried() async throws {
        let upstream = try RegistryFixture("token")
        defer { upstream.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry, credentials: upstream.credentials), http: http)
        _ = try await client.ping()
        // A token the registry will refuse (its signature does not verify), cached as if valid.
        await client.plantToken("not.a.token", scope: "repository:\(upstream.repository):pull")
        let manifest = try await client.manifest(upstream.repository, .tag(OCI.Tag("v1")!))
        #expect(manifest.digest == upstream.manifestDigest)
        #expect(upstream.tokenRequests == 1)
        // The fresh token is cached: no further token request.
        _ = try await client.headBlob(upstream.repository, upstream.layerDigest)
        #expect(upstream.tokenRequests == 1)
    }
}
