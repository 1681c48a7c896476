/// One resource scope of the Docker token flow: `repository:team/app:pull,push`.
///
/// Grammar (Distribution's `spec/auth/scope`): `type[(class)]:name:action[,action]*`. The name
/// may itself hold a `:` (a registry host with a port), so the type ends at the first `:` and
/// the actions start after the last.
struct ResourceScope: Hashable, Sendable, CustomStringConvertible {
    var type: String
    var name: String
    var actions: [String]

    static let catalog = ResourceScope(type: "registry", name: "catalog", actions: ["*"])

    init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    /// Parses one scope; nil when it does not have the grammar's shape.
    init?(_ text: Substring) {
        guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else { return nil }
        var type = text[..<first]
        // A resource class (`repository(plugin)`) is deprecated and carries no meaning here.
        if let open = type.firstIndex(of: "("), type.hasSuffix(")") { type = type[..<open] }
        let name = text[text.index(after: first)..<last]
        let actions = text[text.index(after: last)...].split(separator: ",").map(String.init)
        guard !type.isEmpty, type.allSatisfy({ $0.isLetter && $0.isASCII }), !name.isEmpty,
              actions.allSatisfy({ $0 == "*" || $0.allSatisfy { $0.isLowercase && $0.isASCII } }) else { return nil }
        self.type = String(type)
        self.name = String(name)
        self.actions = actions
    }

    /// Parses a `scope` value, which may hold several scopes separated by spaces (the OAuth2
    /// form); nil if any of them is malformed.
    static func parseList(_ text: String) -> [ResourceScope]? {
        var scopes: [ResourceScope] = []
        for part in text.split(separator: " ") {
            guard let scope = ResourceScope(part) else { return nil }
            scopes.append(scope)
        }
        return scopes
    }

    var description: String { "\(type):\(name):\(actions.joined(separator: ","))" }

    /// A repository name as Wharf's routes spell it: a leading `host:port` component becomes
    /// `host_port` (a `:` cannot appear in a route's name), so scopes and routes compare equal.
    static func routeName(_ name: String) -> String {
        guard let slash = name.firstIndex(of: "/") else { return name }
        let first = name[..<slash]
        guard let colon = first.firstIndex(of: ":") else { return name }
        return String(first[..<colon]) + "_" + String(first[first.index(after: colon)...]) + String(name[slash...])
    }
}

/// What a client may do to a repository.
enum RepositoryAction: String, Sendable, CaseIterable {
    case pull, push, delete
}
