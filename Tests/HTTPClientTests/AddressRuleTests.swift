import Foundation
import HTTPClient
import Testing
import UpstreamTestSupport

@Suite("address rule")
struct AddressRuleTests {
    @Test(arguments: [
        ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("localhost", "loopback"), ("a.localhost.", "loopback"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"), ("::1", "loopback"), ("[::1]", "loopback"),
        ("::", "unspecified"), ("fe80::1", "link-local"), ("fd00::1", "private (unique local)"), ("fc00::1", "private (unique local)"),
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.1.1", "link-local"),
    ])
    func internalLiteralsAreRefused(host: String, range: String) {
        #expect(AddressRule.refusalForLiteral(host) == range)
    }

    @Test(arguments: ["8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "registry-1.docker.io"])
    func publicAddressesAndNamesPassTheLiteralCheck(host: String) {
        #expect(AddressRule.refusalForLiteral(host) == nil)
    }

    @Test func exemptionsMatchHostOrHostAndPort() {
        let rule = AddressRule(exemptHosts: ["127.0.0.1:5000", "Registry.Lab"])
        #expect(rule.exempts(host: "127.0.0.1", port: 5000))
        #expect(!rule.exempts(host: "127.0.0.1", port: 5001))
        #expect(rule.exempts(host: "registry.lab", port: 443))
    }

    /// This machine's host name, when it resolves to a loopback address (Debian's /etc/hosts maps
    /// it to 127.0.1.1 or 127.0.0.1): a name no literal check can judge.
    static let loopbackName: String? = {
        let name = ProcessInfo.processInfo.hostName.lowercased()
        guard name != "localhost", !name.hasSuffix(".localhost"), AddressRule.refusalForLiteral(name) == nil else { return nil }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        let octet = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr & 0xff }
        return octet == 127 ? name : nil
    }()

    @Test(arguments: ["2130706433", "0x7f.1", "127.1", "017700000001"])
    func otherIPv4SpellingsAreLiteralsToo(host: String) {
        #expect(AddressRule.refusalForLiteral(host) == "loopback")
    }

    /// Only the socket check, which sees the address libcurl is about to connect to, can refuse a
    /// name that resolves to loopback.
    @Test(.enabled(if: AddressRuleTests.loopbackName != nil), .timeLimit(.minutes(1)))
    func aNameResolvingToLoopbackIsRefusedOnTheSocket() async throws {
        let server = try FixtureProcess("http_fixture.py")
        let client = try HTTPClient()
        defer { client.shutdown(); server.stop() }
        let port = server.int("port")
        let name = try #require(Self.loopbackName)
        var request = HTTPRequest(.get, url: "http://127.0.0.1:\(port)/redirect?to=http://\(name):\(port)/headers")
        request.addressRule = AddressRule(exemptHosts: ["127.0.0.1:\(port)"])
        let error = await #expect(throws: HTTPClientError.self) { try await client.execute(request) }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("\(name) resolves to 127.") == true, "\(String(describing: error))")
    }
}
