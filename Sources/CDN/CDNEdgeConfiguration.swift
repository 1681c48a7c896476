import Foundation

/// Wharf's edge mode: it verifies CloudFront-style signed URLs itself, as CloudFront would.
///
/// ```yaml
/// cdn:
///   edge:
///     origin: https://registry.internal:5000   # required: where this edge's content comes from
///     baseurl: https://edge.example.com/        # optional: the public URL prefix the signer used;
///                                               #   without it the request's scheme and Host are used
///     clockskew: 30s                            # optional: tolerance for expiry/not-before, default 0
///     keys:                                     # required, at least one
///       - keypairid: K2JCJMDEHXQW5F
///         publickey: /etc/wharf/cdn-public.pem  # a path, or the PEM text itself
/// ```
public struct CDNEdgeConfiguration: Sendable, Equatable {
    public struct Key: Sendable, Equatable {
        public var keyPairID: String
        /// A path to a PEM file, or PEM text (starts with `-----BEGIN`).
        public var publicKey: String

        public init(keyPairID: String, publicKey: String) {
            self.keyPairID = keyPairID
            self.publicKey = publicKey
        }
    }

    public var keys: [Key]
    public var origin: String
    public var baseURL: String?
    public var clockSkew: Duration = .zero

    public init(keys: [Key], origin: String, baseURL: String? = nil) {
        self.keys = keys
        self.origin = origin
        self.baseURL = baseURL
    }

    /// Reads `cdn.edge`: its scalar options and the entries of its `keys` list.
    ///
    /// - Throws: `CDNError` (`invalidConfiguration`) whose message starts with the full key,
    ///   e.g. `cdn.edge.keys[1].publickey: required`.
    public static func parse(options: [String: String], keys: [[String: String]],
                             keyPath: String = "cdn.edge") throws(CDNError) -> CDNEdgeConfiguration {
        func fail(_ key: String, _ why: String) -> CDNError {
            CDNError(.invalidConfiguration, "\(keyPath).\(key): \(why)")
        }
        var values: [String: String] = [:]
        for (key, value) in options { values[key.lowercased()] = value.trimmingSpaces }
        for key in values.keys.sorted() where !["origin", "baseurl", "clockskew", "keys"].contains(key) {
            throw fail(key, "unknown key (known keys here: origin, baseurl, clockskew, keys)")
        }
        guard let origin = values["origin"], !origin.isEmpty else { throw fail("origin", "required") }
        guard origin.hasPrefix("http://") || origin.hasPrefix("https://") else {
            throw fail("origin", "\"\(origin)\" must be an http:// or https:// URL")
        }
        var baseURL: String?
        if let text = values["baseurl"], !text.isEmpty {
            guard !text.contains("?"), !text.contains("#") else { throw fail("baseurl", "\"\(text)\" must not have a query or fragment") }
            baseURL = CloudFrontConfiguration.normalisedBaseURL(text)
        }
        guard !keys.isEmpty else { throw fail("keys", "required: at least one {keypairid, publickey}") }
        var parsedKeys: [Key] = []
        for (index, entry) in keys.enumerated() {
            let entryPath = "keys[\(index)]"
            var fields: [String: String] = [:]
            for (key, value) in entry { fields[key.lowercased()] = value.trimmingSpaces }
            for key in fields.keys.sorted() where key != "keypairid" && key != "publickey" {
                throw fail("\(entryPath).\(key)", "unknown key (known keys here: keypairid, publickey)")
            }
            guard let id = fields["keypairid"], !id.isEmpty else { throw fail("\(entryPath).keypairid", "required") }
            guard CloudFrontSigner.isValidKeyPairID(id) else {
                throw fail("\(entryPath).keypairid", "\"\(id)\" must be letters, digits, - or _")
            }
            guard !parsedKeys.contains(where: { $0.keyPairID == id }) else {
                throw fail("\(entryPath).keypairid", "\"\(id)\" is listed twice")
            }
            guard let publicKey = fields["publickey"], !publicKey.isEmpty else { throw fail("\(entryPath).publickey", "required") }
            parsedKeys.append(Key(keyPairID: id, publicKey: publicKey))
        }
        var configuration = CDNEdgeConfiguration(keys: parsedKeys, origin: origin, baseURL: baseURL)
        if let text = values["clockskew"] {
            guard let skew = GoDuration.parse(text), skew >= .zero else {
                throw fail("clockskew", "\"\(text)\" is not a non-negative duration (e.g. 30s)")
            }
            configuration.clockSkew = skew
        }
        return configuration
    }

    /// The full URL to verify for a request: `baseurl` + target when configured, else
    /// `scheme://host` + target (`host` as the Host header gives it, port included).
    public func requestURL(target: String, scheme: String, host: String) -> String {
        var path = Substring(target)
        if let baseURL {
            while path.first == "/" { path = path.dropFirst() }
            return baseURL + path
        }
        return path.hasPrefix("/") ? "\(scheme)://\(host)\(path)" : "\(scheme)://\(host)/\(path)"
    }
}

extension CloudFrontVerifier {
    /// A verifier for the edge configuration's keys, reading PEM files where a path is given.
    public init(configuration: CDNEdgeConfiguration, keyPath: String = "cdn.edge") throws(CDNError) {
        var pems: [String: String] = [:]
        for (index, key) in configuration.keys.enumerated() {
            if key.publicKey.hasPrefix("-----BEGIN") {
                pems[key.keyPairID] = key.publicKey
                continue
            }
            do {
                pems[key.keyPairID] = try String(contentsOfFile: key.publicKey, encoding: .utf8)
            } catch {
                throw CDNError(.invalidKey, "\(keyPath).keys[\(index)].publickey: \(key.publicKey) cannot be read: \(error.localizedDescription)")
            }
        }
        try self.init(publicKeys: pems, allowedClockSkew: configuration.clockSkew)
    }
}
