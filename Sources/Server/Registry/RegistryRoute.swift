import OCI

/// A `/v2/` API path, parsed: names are checked against the OCI grammar before anything
/// touches storage.
///
/// Repository names contain slashes and may contain components called `blobs` or
/// `manifests`, so the path is read from the right, where each route's fixed tail is.
public enum RegistryRoute: Equatable, Sendable {
    case base                                              // /v2/
    case catalog                                           // /v2/_catalog
    case manifest(RepositoryName, String)                  // /v2/<name>/manifests/<reference>
    case blob(RepositoryName, String)                      // /v2/<name>/blobs/<digest>
    case uploads(RepositoryName)                           // /v2/<name>/blobs/uploads/
    case upload(RepositoryName, String)                    // /v2/<name>/blobs/uploads/<id>
    case tags(RepositoryName)                              // /v2/<name>/tags/list
    case referrers(RepositoryName, String)                 // /v2/<name>/referrers/<digest>

    /// The route's kind, for metric labels and logs (never the name or digest).
    public var kind: String {
        switch self {
        case .base: return "base"
        case .catalog: return "catalog"
        case .manifest: return "manifest"
        case .blob: return "blob"
        case .uploads, .upload: return "upload"
        case .tags: return "tags"
        case .referrers: return "referrers"
        }
    }

    public enum ParseError: Error, Equatable {
        /// Not an API path at all.
        case notFound
        /// A route's shape, with a name that breaks the grammar.
        case invalidName(String)
    }

    /// Parses a request path (without the query).
    public static func parse(_ path: Substring) -> Result<RegistryRoute, ParseError> {
        guard path.hasPrefix("/v2") else { return .failure(.notFound) }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" { return .success(.base) }
        guard rest.hasPrefix("/") else { return .failure(.notFound) }
        let tail = rest.dropFirst()
        if tail == "_catalog" { return .success(.catalog) }
        // Split on bytes: `/` is ASCII, and Character-based splitting costs on every request.
        var parts = tail.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
        let trailingSlash = parts.last == ""
        if trailingSlash { parts.removeLast() }
        let count = parts.count

        func name(_ end: Int) -> Result<RepositoryName, ParseError> {
            let text = parts[..<end].joined(separator: "/")
            guard end > 0 else { return .failure(.notFound) }
            if let name = RepositoryName(text) { return .success(name) }
            // A mirror path prefix may name a registry with a port (`/v2/host:5000/app/...`):
            // `:` is not allowed in a repository name, so the port is written `host_5000`.
            if end > 1, let first = parts.first, let colon = first.firstIndex(of: ":") {
                let host = first[..<colon], port = first[first.index(after: colon)...]
                if !port.isEmpty, port.allSatisfy(\.isNumber),
                   host.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "." || $0 == "-" }),
                   let name = RepositoryName("\(host)_\(port)/" + parts[1..<end].joined(separator: "/")) {
                    return .success(name)
                }
            }
            return .failure(.invalidName(text))
        }

        if count >= 3, parts[count - 2] == "tags", parts[count - 1] == "list", !trailingSlash {
            return name(count - 2).map { .tags($0) }
        }
        if count >= 3, parts[count - 2] == "blobs", parts[count - 1] == "uploads" {
            return name(count - 2).map { .uploads($0) }
        }
        if count >= 4, parts[count - 3] == "blobs", parts[count - 2] == "uploads", !trailingSlash {
            let id = String(parts[count - 1])
            return name(count - 3).map { .upload($0, id) }
        }
        if count >= 3, !trailingSlash {
            let last = String(parts[count - 1])
            switch parts[count - 2] {
            case "manifests": return name(count - 2).map { .manifest($0, last) }
            case "blobs": return name(count - 2).map { .blob($0, last) }
            case "referrers": return name(count - 2).map { .referrers($0, last) }
            default: break
            }
        }
        return .failure(.notFound)
    }
}
