import Foundation

/// The `cloudfront` storage middleware's options, Distribution's shape plus Wharf's additions.
///
/// ```yaml
/// middleware:
///   storage:
///     - name: cloudfront
///       options:
///         baseurl: https://d111111abcdef8.cloudfront.net/   # required; https:// added if no scheme, trailing / added
///         privatekey: /etc/wharf/cloudfront.pem             # required; path to an RSA PEM (PKCS#1 or PKCS#8)
///         keypairid: K2JCJMDEHXQW5F                          # required
///         duration: 20m                                      # Go duration; default 20m
///         ipfilteredby: none                                 # only none for now (aws, awsregion refused)
///         awsregion, updatefrequency, iprangesurl             # accepted and ignored (with a warning)
///         hashalgorithm: sha1                                # Wharf: sha1 (default) | sha256
///         policy: canned                                     # Wharf: canned (default) | custom
///         clientipcondition: false                           # Wharf: custom policy pinned to the client's IP
///         notbefore: -30s                                    # Wharf: DateGreaterThan = signing time + this
/// ```
/// Setting `clientipcondition` or `notbefore` implies `policy: custom`; writing
/// `policy: canned` beside them is an error.
public struct CloudFrontConfiguration: Sendable, Equatable {
    public enum PolicyKind: String, Sendable {
        case canned, custom
    }

    /// Normalised: has a scheme and ends with `/`.
    public var baseURL: String
    /// Path to the PEM file; read by `BlobRedirector(configuration:)`.
    public var privateKeyPath: String
    public var keyPairID: String
    /// Lifetime of each signed URL. Default: 20 minutes (Distribution's).
    public var duration: Duration = .seconds(20 * 60)
    public var hashAlgorithm: CloudFrontHashAlgorithm = .sha1
    public var policy: PolicyKind = .canned
    /// Pin each custom policy to the requesting client's address (`/32` or `/128`).
    public var clientIPCondition = false
    /// `DateGreaterThan` relative to signing time (negative allows for clock skew).
    public var notBefore: Duration?
    /// Options accepted but without effect; log them once at start-up.
    public var warnings: [String] = []

    public init(baseURL: String, privateKeyPath: String, keyPairID: String) {
        self.baseURL = Self.normalisedBaseURL(baseURL)
        self.privateKeyPath = privateKeyPath
        self.keyPairID = keyPairID
    }

    static let knownKeys: Set<String> = [
        "baseurl", "privatekey", "keypairid", "duration", "ipfilteredby", "awsregion", "updatefrequency",
        "updatefrenquency", "iprangesurl", "hashalgorithm", "policy", "clientipcondition", "notbefore",
    ]

    /// Reads the `options` map of a `cloudfront` middleware entry (keys compared lowercase).
    ///
    /// From `Configuration.readMiddleware`, for `("storage", "cloudfront")`:
    /// ```swift
    /// let options = Dictionary(try entry.stringMap("options"), uniquingKeysWith: { $1 })
    /// do { cloudFront = try CloudFrontConfiguration.parse(options, keyPath: "\(entry.path).options") }
    /// catch { throw ConfigurationError(error.message) }
    /// warnings.append(contentsOf: cloudFront.warnings)
    /// ```
    ///
    /// - Parameter keyPath: where the options live, for messages, e.g. `middleware.storage[0].options`.
    /// - Throws: `CDNError` with code `invalidConfiguration`; the message starts with the full key.
    public static func parse(_ options: [String: String],
                             keyPath: String = "middleware.storage[].options") throws(CDNError) -> CloudFrontConfiguration {
        var values: [String: String] = [:]
        for (key, value) in options { values[key.lowercased()] = value }
        func fail(_ key: String, _ why: String) -> CDNError {
            CDNError(.invalidConfiguration, "\(keyPath).\(key): \(why)")
        }
        for key in values.keys.sorted() where !knownKeys.contains(key) {
            throw fail(key, "unknown cloudfront option (known: \(knownKeys.sorted().joined(separator: ", ")))")
        }
        func required(_ key: String) throws(CDNError) -> String {
            guard let value = values[key]?.trimmingSpaces, !value.isEmpty else { throw fail(key, "required") }
            return value
        }
        let baseURL = try required("baseurl")
        guard !baseURL.contains("?"), !baseURL.contains("#"), !baseURL.contains(" ") else {
            throw fail("baseurl", "\"\(baseURL)\" must be a plain URL prefix without query or fragment")
        }
        var configuration = CloudFrontConfiguration(
            baseURL: baseURL, privateKeyPath: try required("privatekey"), keyPairID: try required("keypairid"))
        guard CloudFrontSigner.isValidKeyPairID(configuration.keyPairID) else {
            throw fail("keypairid", "\"\(configuration.keyPairID)\" must be letters, digits, - or _ (e.g. K2JCJMDEHXQW5F)")
        }
        if let text = values["duration"] {
            guard let duration = GoDuration.parse(text), duration > .zero else {
                throw fail("duration", "\"\(text)\" is not a positive duration (e.g. 20m, 1h)")
            }
            configuration.duration = duration
        }
        switch values["ipfilteredby"]?.lowercased() {
        case nil, "", "none": break
        case let other?: throw fail("ipfilteredby", "\"\(other)\" is not supported by Wharf yet (only none)")
        }
        for key in ["awsregion", "updatefrequency", "updatefrenquency", "iprangesurl"] where values[key] != nil {
            configuration.warnings.append("\(keyPath).\(key): has no effect without ipfilteredby aws/awsregion; ignored")
        }
        if let text = values["hashalgorithm"] {
            guard let algorithm = CloudFrontHashAlgorithm(name: text) else { throw fail("hashalgorithm", "\"\(text)\" is not sha1 or sha256") }
            configuration.hashAlgorithm = algorithm
        }
        if let text = values["clientipcondition"] {
            switch text.lowercased() {
            case "true", "yes", "on", "1": configuration.clientIPCondition = true
            case "false", "no", "off", "0": configuration.clientIPCondition = false
            default: throw fail("clientipcondition", "\"\(text)\" is not true or false")
            }
        }
        if let text = values["notbefore"] {
            guard let duration = GoDuration.parse(text) else { throw fail("notbefore", "\"\(text)\" is not a duration (e.g. -30s, 5m)") }
            configuration.notBefore = duration
        }
        let needsCustom = configuration.clientIPCondition || configuration.notBefore != nil
        switch values["policy"]?.lowercased() {
        case nil: configuration.policy = needsCustom ? .custom : .canned
        case "custom": configuration.policy = .custom
        case "canned":
            guard !needsCustom else {
                throw fail("policy", "canned cannot carry clientipcondition or notbefore; use policy: custom")
            }
            configuration.policy = .canned
        case let other?: throw fail("policy", "\"\(other)\" is not canned or custom")
        }
        return configuration
    }

    /// As Distribution: `https://` prepended when there is no scheme, `/` appended.
    static func normalisedBaseURL(_ text: String) -> String {
        var url = text.trimmingSpaces
        if !url.hasPrefix("http://") && !url.hasPrefix("https://") { url = "https://" + url }
        if !url.hasSuffix("/") { url += "/" }
        return url
    }
}

/// Go's `time.ParseDuration` syntax (`1h30m`, `-30s`, `500ms`); a bare integer is
/// nanoseconds, as Distribution reads it.
enum GoDuration {
    static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingSpaces)
        if let nanoseconds = Int64(rest) { return .nanoseconds(nanoseconds) }
        var sign = 1.0
        if rest.first == "-" || rest.first == "+" {
            if rest.first == "-" { sign = -1 }
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return .zero }
        var seconds = 0.0
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let number = Double(rest[..<numberEnd]) else { return nil }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { $0.isASCII && ($0.isNumber || $0 == ".") } ?? rest.endIndex
            let scale: Double
            switch rest[..<unitEnd] {
            case "ns": scale = 1e-9
            case "us", "µs", "μs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            rest = rest[unitEnd...]
            seconds += number * scale
        }
        // Go's durations are Int64 nanoseconds; a larger one is an error, as in Go (never a trap).
        let nanoseconds = (sign * seconds * 1e9).rounded()
        guard nanoseconds.isFinite, abs(nanoseconds) < 0x1p63 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }
}
