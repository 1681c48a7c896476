import Foundation

/// Header fields in order, with case-insensitive lookup.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name, value) }
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Replaces every field called `name` with one field (or removes them when `value` is nil).
    public mutating func set(_ name: String, _ value: String?) {
        remove(name)
        if let value { add(name, value) }
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.lowercased() == name.lowercased() }
    }

    /// The first value of `name`.
    public subscript(_ name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        let lower = name.lowercased()
        return fields.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }
}

/// TLS settings of one request.
public struct TLSOptions: Sendable, Equatable {
    /// Verify the server's certificate chain and host name. `false` is Docker's "insecure registry".
    public var verifyPeer: Bool = true
    /// Look up extra CAs in `<certsDirectory>/<host[:port]>/*.crt` (see `HTTPClient.Configuration`).
    public var useCertsDirectory: Bool = true

    public init(verifyPeer: Bool = true, useCertsDirectory: Bool = true) {
        self.verifyPeer = verifyPeer
        self.useCertsDirectory = useCertsDirectory
    }

    public static let `default` = TLSOptions()
    public static let insecure = TLSOptions(verifyPeer: false)
}

/// Limits that end a transfer which cannot connect or stalls.
public struct HTTPTimeouts: Sendable, Equatable {
    /// TCP connect plus TLS handshake.
    public var connect: Duration = .seconds(10)
    /// Abort when fewer than `lowSpeedLimit` bytes per second arrive for `lowSpeedTime`.
    /// A transfer paused by its consumer is exempt (libcurl skips paused transfers).
    public var lowSpeedLimit: Int = 1
    public var lowSpeedTime: Duration = .seconds(30)
    /// The whole transfer; nil for none (blobs can be large).
    public var total: Duration? = nil

    public init(connect: Duration = .seconds(10), lowSpeedLimit: Int = 1, lowSpeedTime: Duration = .seconds(30), total: Duration? = nil) {
        self.connect = connect
        self.lowSpeedLimit = lowSpeedLimit
        self.lowSpeedTime = lowSpeedTime
        self.total = total
    }
}

/// One HTTP request. Redirects are followed by the client itself, which drops `Authorization`
/// when a redirect leaves the original host (scheme, host or port change).
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", head = "HEAD", post = "POST" }

    public var method: Method
    /// Absolute `http://` or `https://` URL.
    public var url: String
    public var headers: HTTPHeaders
    /// The body of a POST, sent as is with `Content-Length` (libcurl copies it). Small bodies
    /// only (a webhook's JSON): it is held in memory. A 301, 302 or 303 turns the POST into a
    /// GET without a body, as browsers and curl do; 307 and 308 send it again.
    public var body: [UInt8]?
    /// Byte range, inclusive; `upperBound` nil means "to the end". Sent as `Range: bytes=a-b`.
    public var range: (lowerBound: Int64, upperBound: Int64?)?
    public var followRedirects: Bool = true
    public var maxRedirects: Int = 10
    /// Which addresses this request's connections (redirect hops included) may reach; nil: any.
    public var addressRule: AddressRule?
    /// The schemes a redirect may lead to; another fails the request with `.redirect`.
    public var redirectSchemes: Set<String> = ["http", "https"]
    /// Asked before each redirect hop is followed: why the hop is refused, or nil to follow it.
    public var redirectRule: (@Sendable (RedirectHop) -> String?)?
    public var tls: TLSOptions = .default
    public var timeouts: HTTPTimeouts = HTTPTimeouts()

    public init(_ method: Method = .get, url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// Status line and header fields of the final response (after redirects).
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    /// The URL that answered, after redirects.
    public var url: String
    /// "1.1", "2" …
    public var httpVersion: String

    public init(status: Int, headers: HTTPHeaders, url: String, httpVersion: String) {
        self.status = status
        self.headers = headers
        self.url = url
        self.httpVersion = httpVersion
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
    /// The declared length; nil unless it is a plain non-negative number (an upstream may send anything).
    public var contentLength: Int64? {
        headers["Content-Length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 >= 0 ? $0 : nil }
    }
}

/// A response whose body was collected in memory.
public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]
    public var status: Int { head.status }
}

/// The outcome of `HTTPClient.download`: the body of a 2xx response went to the file descriptor.
public struct HTTPDownload: Sendable {
    public var head: HTTPResponseHead
    /// Bytes written to the file descriptor (0 for a non-2xx response).
    public var bytesWritten: Int64
    /// Digest of the bytes written, when hashing was asked for and the response was 2xx.
    public var digest: String?
    /// First bytes of a non-2xx response body (an error document), else empty.
    public var errorBody: [UInt8]
    /// Times the transfer paused because every ring buffer was waiting to be hashed (pipelined only).
    public var pauseCount: Int = 0
}
