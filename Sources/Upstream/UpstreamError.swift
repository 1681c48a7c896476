/// A failed upstream registry operation, with a message that names the registry.
public struct UpstreamError: Error, Sendable, CustomStringConvertible {
    /// Broad kind of failure; `description` is stable and bounded (a metric label).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case notFound, unauthorized, denied, tooManyRequests, unavailable, tls, connect, timeout
            case invalidResponse, digestMismatch, cancelled, io, invalidReference, refused, other
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// 404: the repository, manifest or blob does not exist (or is hidden from these credentials).
        public static let notFound = Code(.notFound)
        /// 401: credentials missing or wrong, or the token server refused them.
        public static let unauthorized = Code(.unauthorized)
        /// 403: authenticated but not allowed.
        public static let denied = Code(.denied)
        /// 429: rate limited; see `retryAfter`.
        public static let tooManyRequests = Code(.tooManyRequests)
        /// 5xx, or an unexpected status.
        public static let unavailable = Code(.unavailable)
        /// The registry's certificate is untrusted, or TLS failed.
        public static let tls = Code(.tls)
        /// The registry (or its token server) could not be reached.
        public static let connect = Code(.connect)
        public static let timeout = Code(.timeout)
        /// The registry answered something unusable (bad token JSON, digest header missing, …).
        public static let invalidResponse = Code(.invalidResponse)
        /// The bytes did not hash to the digest they were fetched by (or that the registry sent).
        public static let digestMismatch = Code(.digestMismatch)
        public static let cancelled = Code(.cancelled)
        public static let io = Code(.io)
        public static let invalidReference = Code(.invalidReference)
        /// Wharf's own rules refused the connection: an address outside the public internet for a
        /// registry not listed, or a redirect hop to a scheme or host it may not follow.
        public static let refused = Code(.refused)
        public static let other = Code(.other)

        public var description: String { kind.rawValue }
    }

    public var code: Code
    public var message: String
    /// The registry host this is about.
    public var registry: String
    /// HTTP status, when the registry answered.
    public var status: Int?
    /// From `Retry-After` on a 429 or 503.
    public var retryAfter: Duration?
    /// OCI error codes from the registry's error body (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, …).
    public var registryCodes: [String]
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, registry: String, status: Int? = nil, retryAfter: Duration? = nil,
                registryCodes: [String] = [], cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.registry = registry
        self.status = status
        self.retryAfter = retryAfter
        self.registryCodes = registryCodes
        self.cause = cause
    }

    public var description: String { "\(code): \(registry): \(message)" }
}
