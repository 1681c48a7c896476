import Notifications

extension Configuration {
    /// Distribution's `notifications` section:
    ///
    /// ```yaml
    /// notifications:
    ///   events:
    ///     includereferences: true       # manifest events list what the manifest references
    ///   endpoints:
    ///     - name: listener              # required; for logs
    ///       url: https://hooks.example/registry   # required; events are POSTed here
    ///       headers:                    # optional; a string or a list of strings per name
    ///         Authorization: [Bearer <token>]
    ///       timeout: 1s                 # one attempt (default 1s)
    ///       threshold: 10               # failures in a row before retries wait `backoff` (default 10)
    ///       backoff: 1s                 # (default 1s)
    ///       disabled: false
    ///       ignoredmediatypes: [application/octet-stream]
    ///       ignore:
    ///         mediatypes: [application/octet-stream]
    ///         actions: [pull]           # push, pull, delete, mount
    /// ```
    mutating func readNotifications(_ node: ConfigNode) throws {
        try node.expectKeys(["endpoints", "events"])
        if let events = node.child("events") {
            try events.expectKeys(["includereferences"])
            notifications.includeReferences = try events.bool("includereferences") ?? false
        }
        var names: Set<String> = []
        for entry in try node.list("endpoints") {
            try entry.expectKeys(["name", "disabled", "url", "headers", "timeout", "threshold", "backoff", "ignoredmediatypes", "ignore"])
            guard let name = try entry.string("name"), !name.isEmpty else {
                throw ConfigurationError("\(entry.path).name: required (a name for the logs)")
            }
            guard names.insert(name).inserted else { throw ConfigurationError("\(entry.path).name: \"\(name)\" is used by another endpoint") }
            guard let url = try entry.string("url"), url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigurationError("\(entry.path).url: required, an http:// or https:// URL")
            }
            var endpoint = EndpointConfiguration(name: name, url: url)
            endpoint.headers = try headerFields(entry, "headers")
            // Distribution replaces a zero or negative value with its default.
            if let timeout = try entry.duration("timeout"), timeout > .zero {
                if timeout < .milliseconds(1) {
                    let nanoseconds = timeout.components.attoseconds / 1_000_000_000
                    entry.warnings.add("\(entry.path).timeout: \(nanoseconds)ns is shorter than a millisecond (a bare number is nanoseconds; write e.g. 500ms)")
                }
                endpoint.timeout = timeout
            }
            if let threshold = try entry.int("threshold", range: 0...1_000_000), threshold > 0 { endpoint.threshold = threshold }
            if let backoff = try entry.duration("backoff"), backoff > .zero { endpoint.backoff = backoff }
            endpoint.ignoredMediaTypes = Set(try entry.stringList("ignoredmediatypes") ?? [])
            if let ignore = entry.child("ignore") {
                try ignore.expectKeys(["mediatypes", "actions"])
                endpoint.ignoredMediaTypes.formUnion(try ignore.stringList("mediatypes") ?? [])
                for action in try ignore.stringList("actions") ?? [] {
                    guard Event.Action.all.contains(Event.Action(rawValue: action)) else {
                        throw ConfigurationError("\(ignore.path).actions: \"\(action)\" is not one of push, pull, delete, mount")
                    }
                    endpoint.ignoredActions.insert(Event.Action(rawValue: action))
                }
            }
            if try entry.bool("disabled") == true { continue }
            notifications.endpoints.append(endpoint)
        }
    }

    /// A map of header names to a string or a list of strings (Go's `http.Header` in YAML).
    private func headerFields(_ node: ConfigNode, _ key: String) throws -> [EndpointConfiguration.HeaderField] {
        guard let headers = node.child(key) else { return [] }
        guard case .map(let entries) = headers.value else { throw ConfigurationError("\(headers.path): must be a mapping") }
        var fields: [EndpointConfiguration.HeaderField] = []
        for entry in entries {
            switch entry.value {
            case .scalar(let value):
                fields.append(.init(name: entry.key, value: value))
            case .list(let values):
                for value in values {
                    guard case .scalar(let text) = value else {
                        throw ConfigurationError("\(headers.path).\(entry.key): must be a string or a list of strings")
                    }
                    fields.append(.init(name: entry.key, value: text))
                }
            default:
                throw ConfigurationError("\(headers.path).\(entry.key): must be a string or a list of strings")
            }
        }
        return fields
    }
}
