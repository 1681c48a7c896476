#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// One request as the registry sees it: head parsed, body still streaming.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var uri: String
    public var headers: HTTPHeaders
    /// The path, not yet percent-decoded.
    public let path: Substring
    /// Query parameters, percent-decoded, in order.
    public let query: [(name: String, value: String)]

    /// The client's IP address, as the connection sees it.
    public var remoteAddress: String?
    /// The authenticated user, once access control has checked the request (nil: anonymous or no auth).
    public var user: String?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, remoteAddress: String? = nil) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.remoteAddress = remoteAddress
        if let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.path = uri[..<mark]
            self.query = QueryString.parse(uri)
        } else {
            self.path = uri[...]
            self.query = []
        }
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// The declared body length, if any.
    public var contentLength: Int64? {
        // Digits only: Int64("+5") would parse, and a negative length means nothing.
        headers.first(name: "content-length").flatMap { $0.allSatisfy(\.isASCIIDigit) ? Int64($0) : nil }
    }
}

/// What a handler answers.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case empty
        case buffer(ByteBuffer)
        /// `length` bytes from `offset` of an open file, sent with `sendfile`; the server
        /// closes the handle once written.
        case file(NIOFileHandle, offset: Int64, length: Int64)
        /// Headers announce a length but no body is sent (HEAD).
        case headOnly
        /// `length` bytes that `produce` writes as they become available. If it throws before
        /// writing them all, the connection is closed: a client never mistakes a short body for
        /// a whole one.
        case stream(length: Int64, produce: @Sendable (BodyWriter) async throws -> Void)
    }

    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body
    /// Where the content came from, for the access log.
    public var cacheResult: CacheResult?
    /// The upstream registry involved, for the access log.
    public var upstream: String?

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Where a response's content came from: a closed set, safe as a log field or metric label.
    public enum CacheResult: String, Sendable {
        /// Served from local storage.
        case hit
        /// Fetched from upstream (or an edge's origin) for this request.
        case miss
        /// Joined a fetch another request started.
        case join
        /// Redirected to a CDN.
        case redirect
        /// The upstream failed; the kept copy was served.
        case stale
    }

    /// The body's length as announced, for the access log.
    var bodyLength: Int64 {
        switch body {
        case .empty, .headOnly: return 0
        case .buffer(let buffer): return Int64(buffer.readableBytes)
        case .file(_, _, let length), .stream(let length, _): return length
        }
    }
}

enum QueryString {
    static func parse(_ uri: String) -> [(name: String, value: String)] {
        guard let mark = uri.firstIndex(of: "?") else { return [] }
        return uri[uri.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(parts[0]), parts.count > 1 ? percentDecode(parts[1]) : "")
        }
    }

    /// Decodes `%XX` escapes and `+` (as a space); malformed escapes are kept as they are.
    static func percentDecode(_ text: Substring) -> String {
        guard text.contains("%") || text.contains("+") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
               let high = hexValue(iterator[iterator.startIndex]), let low = hexValue(iterator[iterator.startIndex + 1]) {
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~/:".contains(c)) {
                out.append(c)
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Writes the chunks of a streamed response body.
public struct BodyWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    /// Under TLS a file is read into buffers: the TLS handler cannot take a `FileRegion`.
    let usesTLS: Bool

    public func write(_ buffer: ByteBuffer) async throws {
        try await outbound.write(.body(.byteBuffer(buffer)))
    }

    /// Sends `length` bytes from `offset` of the file `descriptor` with `sendfile`; takes
    /// ownership of the descriptor, which is closed once written.
    public func writeFile(descriptor: Int32, offset: Int64, length: Int64) async throws {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        if usesTLS {
            defer { try? handle.close() }
            try await copy(from: handle, offset: offset, length: length)
            return
        }
        let region = FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + length))
        do {
            try await outbound.write(.body(.fileRegion(region)))
        } catch {
            try? handle.close()
            throw error
        }
    }

    /// Sends `length` bytes from `offset` of a file as 1 MiB buffers (`pread`).
    func copy(from handle: NIOFileHandle, offset: Int64, length: Int64) async throws {
        var position = offset
        let end = offset + length
        while position < end {
            let want = Int(min(end - position, 1 << 20))
            var buffer = ByteBuffer()
            let count = try handle.withUnsafeFileDescriptor { descriptor in
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
                    let n = pread(descriptor, pointer.baseAddress!, want, off_t(position))
                    guard n > 0 else { throw HTTPServerError.fileEndedEarly }
                    return n
                }
            }
            try await outbound.write(.body(.byteBuffer(buffer)))
            position += Int64(count)
        }
    }
}
