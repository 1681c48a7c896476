/// A failed HTTP transfer: what kind of failure, and libcurl's words for it.
///
/// HTTP error statuses (404, 401, …) are not errors at this level: they arrive as responses.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// Broad kind of failure. A struct, so kinds can be added without breaking callers;
    /// `description` is stable and bounded (safe as a metric label).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case resolve, connect, tlsHandshake, tlsUntrusted, timeout, cancelled, transfer, io
            case bodyTooLarge, redirect, invalidRequest, shutdown, refused, other
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The host name did not resolve (or the proxy's).
        public static let resolve = Code(.resolve)
        /// No TCP connection could be made (refused, unreachable).
        public static let connect = Code(.connect)
        /// The TLS handshake failed for a reason other than trust (e.g. the server speaks plain HTTP).
        public static let tlsHandshake = Code(.tlsHandshake)
        /// The server's certificate is not trusted (unknown CA, wrong host name, expired).
        public static let tlsUntrusted = Code(.tlsUntrusted)
        /// Connect timeout, or the transfer stalled below the low-speed limit.
        public static let timeout = Code(.timeout)
        /// The caller's task was cancelled, or the consumer went away.
        public static let cancelled = Code(.cancelled)
        /// The connection broke or the response was malformed mid-transfer.
        public static let transfer = Code(.transfer)
        /// Writing the body to its destination failed.
        public static let io = Code(.io)
        /// A body collected in memory exceeded its limit.
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// Too many redirects, or a redirect without a usable `Location`.
        public static let redirect = Code(.redirect)
        /// The request could not be configured (bad URL, unsupported option).
        public static let invalidRequest = Code(.invalidRequest)
        /// The request's `addressRule` or `redirectRule` refused an address or a redirect hop.
        public static let refused = Code(.refused)
        /// The client was shut down.
        public static let shutdown = Code(.shutdown)
        public static let other = Code(.other)

        public var description: String { kind.rawValue }
    }

    public var code: Code
    /// For people and logs: libcurl's error text and detail, with the URL.
    public var message: String
    /// libcurl's result code, when the failure came from libcurl.
    public var curlCode: Int?

    public init(_ code: Code, _ message: String, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String { "\(code): \(message)" }
}
