import OCI

/// A `DockerImage` pull spec (`[registry/]repository[:tag][@digest]`) with Docker's defaults
/// applied: no registry means `docker.io`, a one-component Hub name gets `library/`.
public struct DockerImageReference: Hashable, Sendable, CustomStringConvertible {
    /// `host[:port]`; Docker Hub as `docker.io`.
    public var registry: String
    public var repository: RepositoryName
    public var tag: String?
    public var digest: Digest?

    public init?(_ text: String) {
        var rest = Substring(text.trimmed(of: " \t"))
        if let at = rest.firstIndex(of: "@") {
            guard let digest = Digest(rest[rest.index(after: at)...]) else { return nil }
            self.digest = digest
            rest = rest[..<at]
        }
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        var registry = "docker.io"
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            // Docker's rule: the first component is a registry if it has a `.` or `:`, or is localhost.
            if first.contains(".") || first.contains(":") || first == "localhost" {
                registry = first.lowercased()
                rest = rest[rest.index(after: slash)...]
            }
        }
        registry = DockerHubHost.canonical(registry)
        if registry == "docker.io", !rest.contains("/") { rest = "library/" + rest }
        guard let repository = RepositoryName(rest) else { return nil }
        self.registry = registry
        self.repository = repository
    }

    public var description: String {
        var text = "\(registry)/\(repository)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }
}

extension String {
    func trimmed(of set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
