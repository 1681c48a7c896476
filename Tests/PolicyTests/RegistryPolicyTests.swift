import OCI
import Policy
import Testing

@Suite struct RegistryPolicyTests {
    /// The issue's example configuration.
    static func example(default action: PolicyRule.Action = .allow) throws -> RegistryPolicy {
        try RegistryPolicy(defaultAction: action,
                           allow: ["quay.io", "registry.access.redhat.com", "docker.io/library/*"],
                           block: ["docker.io/someorg/**", "*.untrusted.example"],
                           insecure: ["registry.lab.example:5000"])
    }

    func decide(_ policy: RegistryPolicy, _ registry: String, _ repository: String) -> PolicyDecision {
        policy.decide(registry: registry, repository: RepositoryName(repository)!)
    }

    @Test(arguments: [
        ("quay.io", "org/app", true, "allow:quay.io"),
        ("docker.io", "library/alpine", true, "allow:docker.io/library/*"),
        ("docker.io", "someorg/app", false, "block:docker.io/someorg/**"),
        ("docker.io", "someorg/team/app", false, "block:docker.io/someorg/**"),
        ("docker.io", "otherorg/app", true, "default"),
        ("a.untrusted.example", "x/y", false, "block:*.untrusted.example"),
        ("untrusted.example", "x/y", true, "default"),
        ("ghcr.io", "org/app", true, "default"),
    ])
    func exampleWithDefaultAllow(registry: String, repository: String, allowed: Bool, rule: String) throws {
        let decision = decide(try Self.example(), registry, repository)
        #expect(decision.isAllowed == allowed)
        #expect(decision.ruleLabel == rule)
    }

    @Test(arguments: [
        ("quay.io", "org/app", true, "allow:quay.io"),
        ("docker.io", "library/alpine", true, "allow:docker.io/library/*"),
        ("docker.io", "otherorg/app", false, "default"),
        ("ghcr.io", "org/app", false, "default"),
        ("registry.lab.example:5000", "team/app", false, "default"),  // insecure is not allow
    ])
    func exampleWithDefaultBlock(registry: String, repository: String, allowed: Bool, rule: String) throws {
        let decision = decide(try Self.example(default: .block), registry, repository)
        #expect(decision.isAllowed == allowed)
        #expect(decision.ruleLabel == rule)
    }

    @Test func theMoreSpecificRuleWinsWhicheverListItIsIn() throws {
        let policy = try RegistryPolicy(defaultAction: .allow, allow: ["registry.example.com/team/**", "*.example.com/public/*"],
                                        block: ["registry.example.com", "*.example.com/public/secret"], insecure: [])
        #expect(decide(policy, "registry.example.com", "team/app").ruleLabel == "allow:registry.example.com/team/**")
        #expect(decide(policy, "registry.example.com", "other/app").ruleLabel == "block:registry.example.com")
        // host labels first: the literal host's block beats the wildcard host's repository allow
        #expect(decide(policy, "registry.example.com", "public/app").ruleLabel == "block:registry.example.com")
        #expect(decide(policy, "mirror.example.com", "public/app").ruleLabel == "allow:*.example.com/public/*")
        #expect(decide(policy, "mirror.example.com", "public/secret").ruleLabel == "block:*.example.com/public/secret")
    }

    @Test func blockBeatsAllowAtEqualSpecificityInEitherOrder() throws {
        for (allow, block) in [("quay.io/org/*", "quay.io/*/app"), ("quay.io/*/app", "quay.io/org/*")] {
            let policy = try RegistryPolicy(defaultAction: .allow, allow: [allow], block: [block], insecure: [])
            let decision = decide(policy, "quay.io", "org/app")
            #expect(!decision.isAllowed)
            #expect(decision.rule?.action == .block)
            #expect(decision.rule?.pattern.description == block)
        }
        let same = try RegistryPolicy(defaultAction: .allow, allow: ["quay.io"], block: ["quay.io"], insecure: [])
        #expect(!decide(same, "quay.io", "org/app").isAllowed)
    }

    @Test func aPortedRuleBeatsAPortlessOne() throws {
        let policy = try RegistryPolicy(defaultAction: .allow, allow: ["lab.example:5000"], block: ["lab.example"], insecure: [])
        #expect(decide(policy, "lab.example:5000", "a").isAllowed)
        #expect(!decide(policy, "lab.example:5001", "a").isAllowed)
        #expect(!decide(policy, "lab.example", "a").isAllowed)
    }

    @Test func theDecisionCarriesTheRuleAndItsPlaceInTheList() throws {
        let decision = decide(try Self.example(), "docker.io", "someorg/app")
        #expect(decision.rule == PolicyRule(action: .block, pattern: try RegistryPattern(parsing: "docker.io/someorg/**"), index: 0))
        let refusal = decision.refusal
        #expect(refusal.code == .denied)
        #expect(refusal.status == 403)
        #expect(refusal.message.contains("docker.io/someorg/app"))
        #expect(refusal.message.contains("block \"docker.io/someorg/**\""))
        #expect(refusal.message.contains("policy.registries.block[0]"))
        #expect(refusal.detailJSON == #"{"registry":"docker.io","repository":"someorg/app","rule":"block:docker.io/someorg/**"}"#)
    }

    @Test func aDefaultRefusalSaysSo() throws {
        let decision = decide(try Self.example(default: .block), "ghcr.io", "org/app")
        #expect(decision.rule == nil)
        #expect(decision.refusal.message.contains("ghcr.io/org/app"))
        #expect(decision.refusal.message.contains("policy.registries.default: block"))
    }

    @Test func insecureListMatchesHostsAndPorts() throws {
        let policy = try Self.example()
        #expect(policy.isInsecure("registry.lab.example:5000"))
        #expect(!policy.isInsecure("registry.lab.example"))
        #expect(!policy.isInsecure("quay.io"))
        #expect(throws: PolicyError.self) {
            try RegistryPolicy(defaultAction: .allow, allow: [], block: [], insecure: ["quay.io/org/*"])
        }
    }

    @Test func aBadPatternIsNamedByListAndIndex() {
        do {
            _ = try RegistryPolicy(defaultAction: .allow, allow: ["quay.io"], block: ["ok.example", "bad_host"], insecure: [])
            Issue.record("expected an error")
        } catch {
            #expect(error.message.hasPrefix("block[1]: \"bad_host\""))
        }
    }

    @Test func allowsEverythingOnlyWithoutBlocks() throws {
        #expect(RegistryPolicy().allowsEverything)
        #expect(!(try Self.example()).allowsEverything)
        #expect(!(try RegistryPolicy(defaultAction: .block, allow: ["quay.io"], block: [], insecure: [])).allowsEverything)
    }
}
