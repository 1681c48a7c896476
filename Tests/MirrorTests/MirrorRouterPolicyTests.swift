@testable import Mirror
import OCI
import Policy
import Synchronization
import Testing

@Suite struct MirrorRouterPolicyTests {
    static func name(_ text: String) -> RepositoryName { RepositoryName(text)! }

    final class Refusals: Sendable {
        let labels = Mutex<[String]>([])
    }

    func router(_ refusals: Refusals) throws -> MirrorRouter {
        var configuration = MirrorConfiguration()
        configuration.defaultRegistry = "docker.io"
        configuration.allowUnlisted = true  // so the policy, not the listing, refuses a.untrusted.example
        configuration.policy = try RegistryPolicy(defaultAction: .allow, allow: ["docker.io/library/*"],
                                                  block: ["docker.io", "*.untrusted.example"], insecure: [])
        return MirrorRouter(configuration: configuration) { decision in refusals.labels.withLock { $0.append(decision.ruleLabel) } }
    }

    @Test func everyRouteIsCheckedAndRefusalsAreReportedWithTheirRule() throws {
        let refusals = Refusals()
        let router = try router(refusals)
        // allowed: the more specific allow rule
        #expect(try router.route(Self.name("alpine"), namespace: nil)?.upstreamRepository == Self.name("library/alpine"))
        // refused on each path: default upstream, ?ns=, path prefix
        for (name, namespace) in [("team/app", nil), ("team/app", "docker.io"), ("docker.io/team/app", nil), ("app", "a.untrusted.example")] {
            do {
                _ = try router.route(Self.name(name), namespace: namespace)
                Issue.record("\(name) ns=\(namespace ?? "-") was not refused")
            } catch {
                #expect(error.code == .denied)
                #expect(error.message.contains("is refused by the policy rule block"))
            }
        }
        #expect(refusals.labels.withLock { $0 } == ["block:docker.io", "block:docker.io", "block:docker.io", "block:*.untrusted.example"])
    }

    @Test func insecureComesFromTheUpstreamOrThePolicy() throws {
        var configuration = MirrorConfiguration()
        var upstream = MirrorConfiguration.Upstream(registry: "a.example")
        upstream.insecure = true
        configuration.upstreams = [upstream]
        configuration.policy = try RegistryPolicy(defaultAction: .allow, allow: [], block: [], insecure: ["*.lab.example:5000"])
        #expect(configuration.isInsecure("a.example"))
        #expect(configuration.isInsecure("r.lab.example:5000"))
        #expect(!configuration.isInsecure("r.lab.example"))
        #expect(!configuration.isInsecure("quay.io"))
    }
}
