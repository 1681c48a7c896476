import OCI

/// Which upstream registries and repositories the mirror may pull from (`policy.registries`).
///
/// Every rule is an allow or block `RegistryPattern`. For a pull of `repository` on `registry`,
/// the most specific matching rule decides (see `RegistryPattern.Specificity`); at equal
/// specificity `block` beats `allow`; when no rule matches, `default` decides. With
/// `default: block` the allow list is the only way out (CRI-O's `BLOCK_REGISTRY=all` plus
/// `ADD_REGISTRY`).
public struct RegistryPolicy: Sendable, Equatable {
    public var defaultAction: PolicyRule.Action
    public private(set) var rules: [PolicyRule]
    /// Registries reached over plain HTTP or unverified TLS (host patterns only).
    public private(set) var insecure: [RegistryPattern]

    /// Allows everything, nothing insecure: what Wharf does with no `policy` section.
    public init() {
        self.defaultAction = .allow
        self.rules = []
        self.insecure = []
    }

    /// - Throws: `PolicyError` naming the list and the pattern that does not parse.
    public init(defaultAction: PolicyRule.Action, allow: [String], block: [String], insecure: [String]) throws(PolicyError) {
        self.defaultAction = defaultAction
        var rules: [PolicyRule] = []
        for (action, list) in [(PolicyRule.Action.allow, allow), (.block, block)] {
            for (index, text) in list.enumerated() {
                do {
                    rules.append(PolicyRule(action: action, pattern: try RegistryPattern(parsing: text), index: index))
                } catch {
                    throw PolicyError("\(action)[\(index)]: \(error.message)")
                }
            }
        }
        self.rules = rules
        var hosts: [RegistryPattern] = []
        for (index, text) in insecure.enumerated() {
            let pattern: RegistryPattern
            do {
                pattern = try RegistryPattern(parsing: text)
            } catch {
                throw PolicyError("insecure[\(index)]: \(error.message)")
            }
            guard pattern.repositoryGlob == nil else {
                throw PolicyError("insecure[\(index)]: \"\(text)\": TLS is per registry; give host[:port] without a repository")
            }
            hosts.append(pattern)
        }
        self.insecure = hosts
    }

    /// True when no rule can refuse anything.
    public var allowsEverything: Bool { defaultAction == .allow && !rules.contains { $0.action == .block } }

    /// The decision for pulling `repository` (as the upstream names it) from `registry` (`host[:port]`).
    public func decide(registry: String, repository: RepositoryName) -> PolicyDecision {
        var best: PolicyRule?
        var bestSpecificity: RegistryPattern.Specificity?
        for rule in rules where rule.pattern.matches(registry: registry, repository: repository.value) {
            let specificity = rule.pattern.specificity
            if let current = bestSpecificity {
                if specificity < current { continue }
                // Equal: block beats allow; between equals of one kind the first listed stays.
                if specificity == current, !(rule.action == .block && best?.action == .allow) { continue }
            }
            best = rule
            bestSpecificity = specificity
        }
        return PolicyDecision(registry: registry, repository: repository, rule: best, defaultAction: defaultAction)
    }

    /// Whether `registry` is listed insecure: plain HTTP and unverified TLS allowed.
    public func isInsecure(_ registry: String) -> Bool {
        insecure.contains { $0.matches(registry: registry, repository: nil) }
    }
}

/// One entry of the allow or block list.
public struct PolicyRule: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Hashable, Sendable, CustomStringConvertible {
        case allow, block
        public var description: String { rawValue }
    }

    public var action: Action
    public var pattern: RegistryPattern
    /// Position in its list (`allow` or `block`), as configured.
    public var index: Int

    public init(action: Action, pattern: RegistryPattern, index: Int) {
        self.action = action
        self.pattern = pattern
        self.index = index
    }

    /// `block[1] docker.io/someorg/**`.
    public var description: String { "\(action)[\(index)] \(pattern)" }
}

/// What the policy said about one pull, and which rule said it.
public struct PolicyDecision: Sendable, Equatable {
    public var registry: String
    public var repository: RepositoryName
    /// The rule that decided; nil when no rule matched and the default decided.
    public var rule: PolicyRule?
    public var defaultAction: PolicyRule.Action

    public var isAllowed: Bool { (rule?.action ?? defaultAction) == .allow }

    /// The deciding rule as a bounded label (one value per configured rule, plus `default`):
    /// `block:docker.io/someorg/**`, `allow:quay.io`, `default`. Suitable as a metric label.
    public var ruleLabel: String {
        guard let rule else { return "default" }
        return "\(rule.action):\(rule.pattern)"
    }

    /// The error a refused pull gets: 403 `DENIED`, naming the repository and the rule.
    public var refusal: RegistryError {
        let why: String
        if let rule {
            why = "by the policy rule \(rule.action) \"\(rule.pattern)\" (policy.registries.\(rule.action)[\(rule.index)])"
        } else {
            why = "by the policy's default (policy.registries.default: block; no allow rule matches)"
        }
        return RegistryError(.denied, "pulling \(registry)/\(repository) is refused \(why)",
                             detailJSON: #"{"registry":\#(JSONText.string(registry)),"repository":\#(JSONText.string(repository.value)),"rule":\#(JSONText.string(ruleLabel))}"#)
    }
}

/// A policy that cannot be used; the message names the list entry.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
