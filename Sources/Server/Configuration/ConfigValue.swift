import Yams

/// A configuration tree: what the YAML file said, after `REGISTRY_*` overrides.
///
/// Kept as plain data so that overrides and validation see the same thing, and so that
/// every key is accounted for: `ConfigNode` reports any key no section claims.
public indirect enum ConfigValue: Sendable, Equatable {
    case null
    case scalar(String)
    case list([ConfigValue])
    case map([ConfigEntry])

    /// Parses YAML text. An empty document is an empty map.
    public static func parse(yaml: String) throws -> ConfigValue {
        do {
            guard let node = try Yams.compose(yaml: yaml) else { return .map([]) }
            return try ConfigValue(node)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("the configuration is not valid YAML: \(error)")
        }
    }

    init(_ node: Node) throws {
        switch node {
        case .scalar(let scalar):
            let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
            self = isNull ? .null : .scalar(scalar.string)
        case .sequence(let sequence):
            self = .list(try sequence.map { try ConfigValue($0) })
        case .mapping(let mapping):
            self = .map(try mapping.map { key, value in
                guard case .scalar(let scalar) = key else { throw ConfigurationError("a mapping key is not a plain string") }
                return ConfigEntry(key: scalar.string, value: try ConfigValue(value))
            })
        case .alias:
            throw ConfigurationError("YAML aliases are not supported in the configuration")
        }
    }

    /// Applies Distribution's environment override rule: `REGISTRY_A_B_C=value` sets
    /// `a.b.c` (keys matched case-insensitively, new keys lowercase), the value parsed as
    /// YAML, variables applied in lexical order so a parent comes before its children.
    ///
    /// - Returns: the dotted paths set from the environment (for warnings on unknown ones).
    public mutating func applyOverrides(from environment: [String: String], prefix: String = "REGISTRY_") -> [String] {
        var applied: [String] = []
        for (name, text) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(prefix) {
            let path = name.dropFirst(prefix.count).split(separator: "_").map { $0.lowercased() }
            guard !path.isEmpty, path != ["version"], path != ["openshift", "version"] else { continue }
            let value = (try? ConfigValue.parse(yaml: text)) ?? .scalar(text)
            // OpenShift's REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_<OPTION> names an option of a list entry.
            if path.count == 4, path[0] == "middleware", path[1] == "repository", path[2] == "openshift" {
                setOpenShiftRepositoryOption(path[3], to: value)
            } else {
                set(path[...], to: value)
            }
            applied.append(path.joined(separator: "."))
        }
        return applied
    }

    private mutating func set(_ path: ArraySlice<String>, to value: ConfigValue) {
        guard let key = path.first else {
            self = value
            return
        }
        var entries: [ConfigEntry]
        if case .map(let existing) = self { entries = existing } else { entries = [] }
        if let index = entries.firstIndex(where: { $0.key.lowercased() == key }) {
            entries[index].value.set(path.dropFirst(), to: value)
        } else {
            var child = ConfigValue.map([])
            child.set(path.dropFirst(), to: value)
            entries.append(ConfigEntry(key: key, value: child))
        }
        self = .map(entries)
    }

    /// Sets an option of the `openshift` entry in `middleware.repository`, creating it.
    private mutating func setOpenShiftRepositoryOption(_ option: String, to value: ConfigValue) {
        var middleware = self["middleware"] ?? .map([])
        var repository: [ConfigValue]
        if case .list(let list) = middleware["repository"] ?? .null { repository = list } else { repository = [] }
        let index = repository.firstIndex { $0["name"] == .scalar("openshift") } ?? {
            repository.append(.map([ConfigEntry(key: "name", value: .scalar("openshift"))]))
            return repository.count - 1
        }()
        repository[index].set(["options", option], to: value)
        middleware.set(["repository"], to: .list(repository))
        set(["middleware"], to: middleware)
    }

    /// The value under `key` (case-insensitive) of a map.
    public subscript(key: String) -> ConfigValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key.lowercased() == key.lowercased() }?.value
    }
}

public struct ConfigEntry: Sendable, Equatable {
    public var key: String
    public var value: ConfigValue
}

/// The configuration could not be used; the message names the key.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
