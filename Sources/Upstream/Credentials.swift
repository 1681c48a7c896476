import Foundation

/// A user name and password (or a registry token used as one). Never logged.
public struct Credentials: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The `Authorization: Basic …` value.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    public var description: String { "Credentials(username: \(username), password: <redacted>)" }
}

/// Credentials per registry, read from a Docker `config.json` (`auths`, as `docker login`,
/// `podman login` and Kubernetes pull secrets write it).
public struct CredentialStore: Sendable, Equatable {
    /// Normalised registry host (`host[:port]`, Docker Hub as `docker.io`) → credentials.
    public private(set) var entries: [String: Credentials] = [:]

    public init() {}

    /// Parses `{"auths":{"<registry>":{"auth":"<base64 user:pass>"} | {"username":…,"password":…}}}`.
    /// `auth` wins over `username`/`password` when both are present; entries with neither are skipped.
    /// Also accepts the legacy `.dockercfg` shape (the bare `auths` map).
    public init(dockerConfigJSON data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw UpstreamError(.invalidResponse, "config.json is not a JSON object", registry: "-")
        }
        let auths = (root["auths"] as? [String: Any]) ?? (root["auths"] == nil ? root : [:])
        for (key, value) in auths {
            guard let entry = value as? [String: Any] else { continue }
            var credentials: Credentials?
            if let auth = entry["auth"] as? String, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth.trimmingCharacters(in: .whitespacesAndNewlines)),
                      let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
                    throw UpstreamError(.invalidResponse, "config.json: the auth of \(key) is not base64 of user:password", registry: key)
                }
                credentials = Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
            } else if let username = entry["username"] as? String, let password = entry["password"] as? String {
                credentials = Credentials(username: username, password: password)
            }
            if let credentials { entries[Self.normalise(key)] = credentials }
        }
    }

    /// Reads and parses a `config.json` file.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UpstreamError(.io, "cannot read the auth file \(path)", registry: "-")
        }
        try self.init(dockerConfigJSON: data)
    }

    public mutating func set(_ credentials: Credentials, for registry: String) {
        entries[Self.normalise(registry)] = credentials
    }

    /// Credentials for `registry` (`host[:port]`; any Docker Hub alias finds Hub's entry).
    public func credentials(for registry: String) -> Credentials? {
        entries[Self.normalise(registry)]
    }

    /// `https://index.docker.io/v1/` → `docker.io`; `host:5000/v2/` → `host:5000`; lowercased.
    public static func normalise(_ key: String) -> String {
        var s = key.lowercased()
        for prefix in ["https://", "http://"] where s.hasPrefix(prefix) { s.removeFirst(prefix.count) }
        if let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        return DockerHub.isHubHost(s) ? DockerHub.canonicalName : s
    }
}
