import NIOHTTP1

/// What a request path is, in a closed set: the `route` label of request metrics, and what
/// decides which requests bypass the request limits.
///
/// A cheap look at the path's tail, not a full parse: a path that breaks the name grammar still
/// gets the kind its shape says (its answer is an error, counted under its status code).
public enum RequestRoute: String, Sendable, CaseIterable {
    case base, catalog, manifest, blob, upload, tags, referrers, health, metrics, cdn, other

    public init(path: Substring) {
        switch path {
        case "/healthz", "/readyz": self = .health
        case MetricsEndpoint.path: self = .metrics
        case "/v2", "/v2/": self = .base
        case "/v2/_catalog": self = .catalog
        default:
            if path.hasPrefix(CDNSettings.blobPathPrefix) {
                self = .cdn
            } else if path.hasPrefix("/v2/") {
                self = Self.apiRoute(path.dropFirst(4))
            } else {
                self = .other
            }
        }
    }

    /// Health probes and the metrics scrape are answered whatever the load.
    public var isExemptFromLimits: Bool { self == .health || self == .metrics }

    /// Reads the tail as `RegistryRoute.parse` does: `<name>/tags/list`, `<name>/blobs/uploads/[<id>]`,
    /// `<name>/(manifests|blobs|referrers)/<ref>`.
    private static func apiRoute(_ tail: Substring) -> RequestRoute {
        var parts = tail.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).suffix(4).map { Substring($0) }
        let trailingSlash = parts.last == ""
        if trailingSlash { parts.removeLast() }
        let count = parts.count
        if count >= 3, parts[count - 2] == "tags", parts[count - 1] == "list", !trailingSlash { return .tags }
        if count >= 3, parts[count - 2] == "blobs", parts[count - 1] == "uploads" { return .upload }
        if count >= 4, parts[count - 3] == "blobs", parts[count - 2] == "uploads", !trailingSlash { return .upload }
        if count >= 3, !trailingSlash {
            switch parts[count - 2] {
            case "manifests": return .manifest
            case "blobs": return .blob
            case "referrers": return .referrers
            default: break
            }
        }
        return .other
    }
}

extension HTTPMethod {
    /// The `method` label: the methods the registry API uses, anything else as `other`.
    var metricLabel: String {
        switch self {
        case .GET: "GET"
        case .HEAD: "HEAD"
        case .PUT: "PUT"
        case .POST: "POST"
        case .PATCH: "PATCH"
        case .DELETE: "DELETE"
        case .OPTIONS: "OPTIONS"
        default: "other"
        }
    }
}
