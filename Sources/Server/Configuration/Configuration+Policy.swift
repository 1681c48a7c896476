import Policy

extension Configuration {
    /// Reads `policy.registries`:
    ///
    /// | key | type | default |
    /// | --- | --- | --- |
    /// | `policy.registries.default` | `allow` or `block` | `allow` |
    /// | `policy.registries.allow` | list of patterns (`REGISTRY_POLICY_REGISTRIES_ALLOW`, comma-separated) | empty |
    /// | `policy.registries.block` | list of patterns (`…_BLOCK`) | empty |
    /// | `policy.registries.insecure` | list of `host[:port]` patterns (`…_INSECURE`) | empty |
    ///
    /// A pattern is `host[:port][/repository-glob]` (see `RegistryPattern`).
    mutating func readPolicy(_ node: ConfigNode) throws {
        try node.expectKeys(["registries"])
        guard let registries = node.child("registries") else { return }
        try registries.expectKeys(["default", "allow", "block", "insecure"])
        let action: PolicyRule.Action
        switch try registries.string("default")?.lowercased() {
        case nil, "allow": action = .allow
        case "block": action = .block
        case let other?: throw ConfigurationError("\(registries.path).default: \"\(other)\" is not allow or block")
        }
        let lists = try ["allow", "block", "insecure"].map { key in
            try registries.stringList(key)?.filter { !$0.isEmpty } ?? []
        }
        do {
            policy = try RegistryPolicy(defaultAction: action, allow: lists[0], block: lists[1], insecure: lists[2])
        } catch {
            throw ConfigurationError("\(registries.path).\(error.message)")
        }
    }
}
