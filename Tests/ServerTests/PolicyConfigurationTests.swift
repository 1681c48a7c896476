import OCI
import Policy
@testable import Server
import Testing

@Suite struct PolicyConfigurationTests {
    static let file = ConfigurationTests.minimal + """

        proxy:
          remoteurl: https://registry-1.docker.io
        policy:
          registries:
            default: allow
            allow: ["quay.io", "registry.access.redhat.com", "docker.io/library/*"]
            block: ["docker.io/someorg/**", "*.untrusted.example"]
            insecure: ["registry.lab.example:5000"]
        """

    func allowed(_ policy: RegistryPolicy, _ registry: String, _ repository: String) -> Bool {
        policy.decide(registry: registry, repository: RepositoryName(repository)!).isAllowed
    }

    @Test func readsTheRegistriesSectionAndHandsItToTheMirror() throws {
        let configuration = try Configuration.load(yaml: Self.file, environment: [:])
        let policy = try #require(configuration.mirrorConfiguration?.policy)
        #expect(policy == configuration.policy)
        #expect(policy.defaultAction == .allow)
        #expect(policy.rules.map(\.description) == [
            "allow[0] quay.io", "allow[1] registry.access.redhat.com", "allow[2] docker.io/library/*",
            "block[0] docker.io/someorg/**", "block[1] *.untrusted.example",
        ])
        #expect(!allowed(policy, "docker.io", "someorg/app"))
        #expect(configuration.mirrorConfiguration?.isInsecure("registry.lab.example:5000") == true)
        #expect(!configuration.warnings.contains { $0.hasPrefix("policy") })
    }

    @Test func proxyRemoteURLFixesTheUpstreamsScheme() throws {
        let plain = try Configuration.load(yaml: ConfigurationTests.minimal + "\nproxy:\n  remoteurl: http://127.0.0.1:5001\n",
                                           environment: [:]).mirrorConfiguration
        #expect(plain?.defaultRegistry == "127.0.0.1:5001")
        #expect(plain?.upstream(for: "127.0.0.1:5001")?.scheme == "http")
        #expect(plain?.isInsecure("127.0.0.1:5001") == true)
        let hub = try Configuration.load(yaml: Self.file, environment: [:]).mirrorConfiguration
        #expect(hub?.upstream(for: hub?.defaultRegistry ?? "")?.scheme == "https")
        #expect(hub?.isInsecure(hub?.defaultRegistry ?? "") == false)
    }

    @Test func environmentListsAreCommaSeparated() throws {
        let configuration = try Configuration.load(yaml: ConfigurationTests.minimal, environment: [
            "REGISTRY_POLICY_REGISTRIES_DEFAULT": "block",
            "REGISTRY_POLICY_REGISTRIES_ALLOW": "quay.io, docker.io/library/*",
            "REGISTRY_POLICY_REGISTRIES_BLOCK": "*.untrusted.example,docker.io/someorg/**",
            "REGISTRY_POLICY_REGISTRIES_INSECURE": "127.0.0.1:5000",
        ])
        let policy = configuration.policy
        #expect(policy.defaultAction == .block)
        #expect(policy.rules.map(\.description) == [
            "allow[0] quay.io", "allow[1] docker.io/library/*", "block[0] *.untrusted.example", "block[1] docker.io/someorg/**",
        ])
        #expect(policy.isInsecure("127.0.0.1:5000"))
        #expect(allowed(policy, "docker.io", "library/alpine"))
        #expect(!allowed(policy, "ghcr.io", "org/app"))
    }

    @Test func theEnvironmentOverridesAListOfTheFile() throws {
        let configuration = try Configuration.load(yaml: Self.file, environment: ["REGISTRY_POLICY_REGISTRIES_BLOCK": "quay.io"])
        #expect(configuration.policy.rules.filter { $0.action == .block }.map(\.pattern.description) == ["quay.io"])
    }

    @Test(arguments: [
        ("policy:\n  registries:\n    default: maybe\n", "policy.registries.default: \"maybe\" is not allow or block"),
        ("policy:\n  registries:\n    block: [\"bad_host\"]\n", "policy.registries.block[0]: \"bad_host\""),
        ("policy:\n  registries:\n    insecure: [\"quay.io/org/*\"]\n", "policy.registries.insecure[0]"),
        ("policy:\n  registries:\n    alow: [quay.io]\n", "policy.registries.alow: unknown key"),
        ("policy:\n  quotas: {}\n", "policy.quotas: unknown key"),
    ])
    func badPolicyNamesItsKey(section: String, expected: String) {
        do {
            _ = try Configuration.load(yaml: ConfigurationTests.minimal + "\n" + section, environment: [:])
            Issue.record("expected an error for \(section)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)")
        }
    }
}
