import Foundation

/// Reads typed values out of a `ConfigValue` map, naming the full key path in every
/// error, and refusing keys the section does not know.
struct ConfigNode {
    let value: ConfigValue
    let path: String
    /// Dotted paths that came from `REGISTRY_*` variables: unknown ones are warnings, not errors.
    let overridden: Set<String>
    let warnings: WarningSink

    init(_ value: ConfigValue, path: String = "", overridden: Set<String> = [], warnings: WarningSink) {
        self.value = value
        self.path = path
        self.overridden = overridden
        self.warnings = warnings
    }

    private func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Fails on keys other than `known`; keys in `ignored` are accepted with a warning.
    func expectKeys(_ known: [String], ignored: [String] = []) throws {
        guard case .map(let entries) = value else {
            if value == .null { return }
            throw ConfigurationError("\(path): must be a mapping")
        }
        for entry in entries {
            let key = entry.key.lowercased()
            if known.contains(key) { continue }
            if ignored.contains(key) {
                warnings.add("\(keyPath(entry.key)): not supported by Wharf yet; ignored")
                continue
            }
            if overridden.contains(where: { $0 == keyPath(key) || $0.hasPrefix(keyPath(key) + ".") }) {
                warnings.add("REGISTRY_\(keyPath(key).replacingOccurrences(of: ".", with: "_").uppercased()): no such configuration key; ignored")
                continue
            }
            throw ConfigurationError("\(keyPath(entry.key)): unknown key (known keys here: \(known.joined(separator: ", ")))")
        }
    }

    func child(_ key: String) -> ConfigNode? {
        guard let child = value[key], child != .null else { return nil }
        return ConfigNode(child, path: keyPath(key), overridden: overridden, warnings: warnings)
    }

    /// The child map, or an empty one.
    func section(_ key: String) throws -> ConfigNode {
        let node = child(key) ?? ConfigNode(.map([]), path: keyPath(key), overridden: overridden, warnings: warnings)
        if case .map = node.value { return node }
        throw ConfigurationError("\(keyPath(key)): must be a mapping")
    }

    func string(_ key: String) throws -> String? {
        guard let child = child(key) else { return nil }
        guard case .scalar(let text) = child.value else { throw ConfigurationError("\(child.path): must be a string") }
        return text
    }

    func bool(_ key: String) throws -> Bool? {
        guard let text = try string(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError("\(keyPath(key)): \"\(text)\" is not true or false")
        }
    }

    func int(_ key: String, range: ClosedRange<Int> = 0...Int.max) throws -> Int? {
        guard let text = try string(key) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw ConfigurationError("\(keyPath(key)): \"\(text)\" is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// A Go duration (`1h30m`, `10s`, `500ms`); a bare integer is nanoseconds, as in Distribution.
    func duration(_ key: String) throws -> Duration? {
        guard let text = try string(key) else { return nil }
        guard let duration = GoDuration.parse(text) else {
            throw ConfigurationError("\(keyPath(key)): \"\(text)\" is not a duration of at most 2562047h (e.g. 10s, 5m, 168h)")
        }
        return duration
    }

    /// A size in bytes: a whole number, or a number with a unit (`500MB`, `1.5GiB`, `200Gi`, `2T`;
    /// k/M/G/T are powers of 1000, Ki/Mi/Gi/Ti and KiB… powers of 1024).
    func byteSize(_ key: String) throws -> Int64? {
        guard let text = try string(key) else { return nil }
        guard let size = ByteSize.parse(text) else {
            throw ConfigurationError("\(keyPath(key)): \"\(text)\" is not a size below 8 EiB (e.g. 500MB, 20GiB, 1T)")
        }
        return size
    }

    func stringList(_ key: String) throws -> [String]? {
        guard let child = child(key) else { return nil }
        switch child.value {
        case .list(let items):
            return try items.enumerated().map { index, item in
                guard case .scalar(let text) = item else { throw ConfigurationError("\(child.path)[\(index)]: must be a string") }
                return text
            }
        case .scalar(let text):
            // Environment overrides give lists comma-separated.
            return text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        default:
            throw ConfigurationError("\(child.path): must be a list of strings")
        }
    }

    func list(_ key: String) throws -> [ConfigNode] {
        guard let child = child(key) else { return [] }
        guard case .list(let items) = child.value else { throw ConfigurationError("\(child.path): must be a list") }
        return items.enumerated().map { ConfigNode($1, path: "\(child.path)[\($0)]", overridden: overridden, warnings: warnings) }
    }

    /// This node's own map of scalars (e.g. a middleware's `options`).
    func scalarMap() throws -> [String: String] {
        guard case .map(let entries) = value else {
            if value == .null { return [:] }
            throw ConfigurationError("\(path): must be a mapping")
        }
        var map: [String: String] = [:]
        for entry in entries {
            guard case .scalar(let text) = entry.value else { throw ConfigurationError("\(keyPath(entry.key)): must be a single value") }
            map[entry.key] = text
        }
        return map
    }

    /// This node's map of scalars, leaving out `skipped` (whatever its shape).
    func scalarMapIgnoring(_ skipped: String) throws -> [String: String] {
        guard case .map(let entries) = value else { throw ConfigurationError("\(path): must be a mapping") }
        return try ConfigNode(.map(entries.filter { $0.key.lowercased() != skipped }), path: path, overridden: overridden, warnings: warnings)
            .scalarMap()
    }

    /// A string-keyed map of scalars (e.g. `log.fields`).
    func stringMap(_ key: String) throws -> [(String, String)] {
        guard let child = child(key) else { return [] }
        guard case .map(let entries) = child.value else { throw ConfigurationError("\(child.path): must be a mapping") }
        return try entries.map { entry in
            guard case .scalar(let text) = entry.value else { throw ConfigurationError("\(child.path).\(entry.key): must be a string") }
            return (entry.key, text)
        }
    }
}

/// Collects warnings found while reading the configuration, to log once at start-up.
final class WarningSink {
    private(set) var messages: [String] = []
    func add(_ message: String) { messages.append(message) }
}

/// Go's `time.ParseDuration` syntax, which Distribution's configuration uses.
enum GoDuration {
    static func parse(_ text: String) -> Duration? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let nanoseconds = Int64(s) { return .nanoseconds(nanoseconds) }
        var total = 0.0
        var rest = Substring(s)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isNumber || $0 == ".") } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let number = Double(rest[..<numberEnd]) else { return nil }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { $0.isNumber || $0 == "." } ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            let seconds: Double
            switch unit {
            case "ns": seconds = 1e-9
            case "us", "µs": seconds = 1e-6
            case "ms": seconds = 1e-3
            case "s": seconds = 1
            case "m": seconds = 60
            case "h": seconds = 3600
            default: return nil
            }
            total += number * seconds
        }
        // Go's durations are Int64 nanoseconds (at most 2562047h); larger is an error, as in Go.
        let nanoseconds = (total * 1e9).rounded()
        guard nanoseconds.isFinite, nanoseconds < 0x1p63 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }
}

/// Sizes as people write them in configuration files.
enum ByteSize {
    static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = Double(number), value >= 0 else { return nil }
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "ki": 1024, "kib": 1024, "mi": 1_048_576, "mib": 1_048_576, "gi": 1_073_741_824, "gib": 1_073_741_824,
            "ti": 1_099_511_627_776, "tib": 1_099_511_627_776,
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        let bytes = (value * multiplier).rounded(.down)
        guard bytes < 9e18 else { return nil }
        return Int64(bytes)
    }
}
