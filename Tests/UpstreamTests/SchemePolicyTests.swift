import HTTPClient
import OCI
import Testing
import Upstream

@Suite struct SchemePolicyTests {
    @Test(arguments: ["localhost:5000", "127.0.0.1", "127.1.2.3:443", "[::1]:5000", "::1", "registry.localhost"])
    func loopbackTriesHTTPSThenHTTP(host: String) {
        #expect(SchemePolicy.isLoopback(host))
        let c = SchemePolicy.candidates(registryHost: host, insecure: false)
        #expect(c.map(\.scheme) == ["https", "http"])
        #expect(c[0].verifyTLS)
    }

    @Test(arguments: ["registry-1.docker.io", "10.0.0.1:5000", "127.example.com", "localhost.example.com"])
    func othersNeedHTTPS(host: String) {
        #expect(!SchemePolicy.isLoopback(host))
        #expect(SchemePolicy.candidates(registryHost: host, insecure: false).map(\.scheme) == ["https"])
    }

    @Test func insecureSkipsVerificationThenAllowsHTTP() {
        let c = SchemePolicy.candidates(registryHost: "registry.internal:5000", insecure: true)
        #expect(c.map(\.scheme) == ["https", "http"])
        #expect(!c[0].verifyTLS)
    }

    @Test func aKnownSchemeIsTheOnlyOneTried() {
        // `proxy.remoteurl: http://…` must not be sent a TLS hello first (a round trip per start).
        let plain = SchemePolicy.candidates(registryHost: "127.0.0.1:5000", insecure: true, scheme: "http")
        #expect(plain.map(\.description) == ["http"])
        let verified = SchemePolicy.candidates(registryHost: "registry.internal", insecure: false, scheme: "https")
        #expect(verified.map(\.description) == ["https"])
        let lenient = SchemePolicy.candidates(registryHost: "registry.internal", insecure: true, scheme: "https")
        #expect(lenient.map(\.description) == ["https (verification off)"])
    }

    @Test func whichFailuresFallBack() {
        let plainHTTP = HTTPClientError(.tlsHandshake, "wrong version number")
        let untrusted = HTTPClientError(.tlsUntrusted, "unable to get local issuer certificate")
        let refused = HTTPClientError(.connect, "refused")
        #expect(SchemePolicy.fallsBack(after: plainHTTP, insecure: false))
        // An untrusted certificate is reported, not bypassed, unless the registry is listed insecure.
        #expect(!SchemePolicy.fallsBack(after: untrusted, insecure: false))
        #expect(SchemePolicy.fallsBack(after: untrusted, insecure: true))
        #expect(!SchemePolicy.fallsBack(after: refused, insecure: false))
    }
}

@Suite struct UpstreamTargetTests {
    @Test func dockerHubOfficialImages() {
        let t = UpstreamTarget(parsing: "docker.io/alpine")
        #expect(t?.registry == "docker.io")
        #expect(t?.repository?.value == "library/alpine")
        #expect(t?.reference == .tag(OCI.Tag("latest")!))
        #expect(DockerHub.apiHost(for: "docker.io") == "registry-1.docker.io")
        #expect(UpstreamTarget(parsing: "docker.io/bitnami/redis:7")?.repository?.value == "bitnami/redis")
    }

    @Test func portsTagsAndDigests() {
        let t = UpstreamTarget(parsing: "localhost:5000/team/app:v1.2")
        #expect(t?.registry == "localhost:5000")
        #expect(t?.repository?.value == "team/app")
        #expect(t?.reference == .tag(OCI.Tag("v1.2")!))
        let hex = String(repeating: "ab", count: 32)
        let d = UpstreamTarget(parsing: "quay.io/org/app@sha256:\(hex)")
        #expect(d?.reference == .digest(Digest("sha256:\(hex)")!))
        #expect(UpstreamTarget(parsing: "quay.io")?.repository == nil)
        #expect(UpstreamTarget(parsing: "quay.io/UPPER") == nil)
        // Not on Docker Hub: no library/ prefix.
        #expect(UpstreamTarget(parsing: "quay.io/app")?.repository?.value == "app")
    }
}
