import CCurl
import CCurlShim
import Foundation

/// True when libcurl will use a proxy from the environment: then Wharf connects to the proxy only,
/// and the socket-level address check (which would see the proxy's address) is left to the proxy;
/// address literals and `localhost` in URLs are still refused.
private let environmentProxy: Bool = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"].contains {
    !(ProcessInfo.processInfo.environment[$0] ?? "").isEmpty
}

/// One request on one easy handle. Confined to the loop thread: created, driven, followed
/// through redirects and destroyed there. libcurl reaches it through an `Unmanaged` pointer
/// passed as CURLOPT_WRITEDATA / CURLOPT_HEADERDATA; the loop's table holds the strong reference.
final class CurlTransfer {
    let id: TransferID
    private(set) var request: HTTPRequest
    let sink: any TransferSink
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    private enum BodyMode { case awaitingHead, discard, capture, sink }
    private var mode: BodyMode = .awaitingHead
    private var statusLine: String?
    private var status = 0
    private var headers = HTTPHeaders()
    private(set) var finalHead: HTTPResponseHead?
    private var errorBody: [UInt8] = []
    /// Set when the sink aborted; reported instead of libcurl's generic write error.
    private(set) var sinkError: HTTPClientError?
    /// The next URL when this response is a redirect the client follows.
    private(set) var redirectTarget: String?
    private(set) var redirectCount = 0
    /// True while libcurl holds this transfer paused on the sink's request.
    var isPaused = false
    /// Set when the open-socket callback refused the address libcurl was about to connect to.
    private var addressRefusal: HTTPClientError?

    static let errorBodyLimit = 64 * 1024

    init(id: TransferID, request: HTTPRequest, sink: any TransferSink) {
        self.id = id
        self.request = request
        self.sink = sink
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        releaseHandle()
        errorBuffer.deallocate()
    }

    /// Creates and configures the easy handle for the current request.
    func makeHandle(trust: TrustStore, userAgent: String) throws(HTTPClientError) -> UnsafeMutableRawPointer {
        releaseHandle()
        guard let easy = curl_easy_init() else { throw HTTPClientError(.other, "curl_easy_init failed") }
        self.easy = easy
        mode = .awaitingHead
        statusLine = nil
        status = 0
        headers = HTTPHeaders()
        redirectTarget = nil
        errorBody = []
        errorBuffer[0] = 0

        func check(_ code: CURLcode, _ what: StaticString) throws(HTTPClientError) {
            guard code == CURLE_OK else {
                throw HTTPClientError(.invalidRequest, "\(what): \(String(cString: curl_easy_strerror(code)))", curlCode: Int(code.rawValue))
            }
        }
        let r = request
        addressRefusal = nil
        if let rule = r.addressRule {
            guard let parts = URLParts(r.url) else { throw HTTPClientError(.invalidRequest, "\(r.url) is not a URL") }
            if !rule.exempts(host: parts.host, port: parts.port), let range = AddressRule.refusalForLiteral(parts.host) {
                throw HTTPClientError(.refused, "\(r.method.rawValue) \(r.url): \(parts.host) is a \(range) address, which this request may not reach")
            }
        }
        try check(CCurlShim_easy_setopt_string(easy, CURLOPT_URL, r.url), "CURLOPT_URL")
        try check(CCurlShim_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "CURLOPT_PROTOCOLS_STR")
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL")
        // An HTTPS proxy's "200 Connection established" stays out of the header callback.
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1), "CURLOPT_SUPPRESS_CONNECT_HEADERS")
        // Redirects are followed by `CurlLoop`, so `Authorization` can be dropped when the host changes.
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0), "CURLOPT_FOLLOWLOCATION")
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)), "CURLOPT_HTTP_VERSION")
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, 256 * 1024), "CURLOPT_BUFFERSIZE")
        try check(CCurlShim_easy_setopt_string(easy, CURLOPT_USERAGENT, userAgent), "CURLOPT_USERAGENT")
        try check(CCurlShim_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        if r.method == .head {
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "CURLOPT_NOBODY")
        }
        if r.method == .post {
            // Length first: libcurl copies exactly that many bytes, so binary bodies survive.
            let body = r.body ?? []
            try check(CCurlShim_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "CURLOPT_POSTFIELDSIZE_LARGE")
            let code = body.isEmpty
                ? CCurlShim_easy_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "")
                : body.withUnsafeBytes { CCurlShim_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
            try check(code, "CURLOPT_COPYPOSTFIELDS")
        }
        if let range = r.range {
            let spec = "\(range.lowerBound)-" + (range.upperBound.map { String($0) } ?? "")
            try check(CCurlShim_easy_setopt_string(easy, CURLOPT_RANGE, spec), "CURLOPT_RANGE")
        }

        // Timeouts.
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(r.timeouts.connect)), "CURLOPT_CONNECTTIMEOUT_MS")
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, r.timeouts.lowSpeedLimit), "CURLOPT_LOW_SPEED_LIMIT")
        try check(CCurlShim_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(r.timeouts.lowSpeedTime) / 1000)), "CURLOPT_LOW_SPEED_TIME")
        if let total = r.timeouts.total {
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(total)), "CURLOPT_TIMEOUT_MS")
        }

        // TLS: the system bundle, plus the registry's certs.d CAs when there are any.
        if r.tls.verifyPeer {
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1), "CURLOPT_SSL_VERIFYPEER")
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2), "CURLOPT_SSL_VERIFYHOST")
            if r.tls.useCertsDirectory, let authority = URLParts(r.url)?.authority,
               let bundle = trust.bundle(forAuthority: authority) {
                let code = bundle.pem.withUnsafeBytes { bytes in
                    CCurlShim_easy_setopt_blob(easy, CURLOPT_CAINFO_BLOB, bytes.baseAddress, bytes.count)
                }
                try check(code, "CURLOPT_CAINFO_BLOB")
            }
        } else {
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0), "CURLOPT_SSL_VERIFYPEER")
            try check(CCurlShim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0), "CURLOPT_SSL_VERIFYHOST")
        }

        // Request headers. An empty Accept-Encoding is never sent: registry bodies must arrive byte-exact.
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for field in r.headers {
            list = curl_slist_append(list, "\(field.name): \(field.value)")
        }
        if r.method == .post {
            // No `Expect: 100-continue` round trip: the body is small and already in memory.
            list = curl_slist_append(list, "Expect:")
        }
        headerList = list
        if let list {
            try check(CCurlShim_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "CURLOPT_HTTPHEADER")
        }

        // Callbacks reach this object through an unretained pointer; the loop's table owns it.
        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(CCurlShim_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context), "CURLOPT_WRITEDATA")
        try check(CCurlShim_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context), "CURLOPT_HEADERDATA")
        try check(CCurlShim_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.didReceiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        }), "CURLOPT_WRITEFUNCTION")
        if r.addressRule != nil, !environmentProxy {
            // Every address libcurl connects to (each hop, each happy-eyeballs candidate) passes here.
            try check(CCurlShim_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, context), "CURLOPT_OPENSOCKETDATA")
            try check(CCurlShim_easy_setopt_opensocket_function(easy, { context, _, address in
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
                guard let address else { return CCurlShim_SOCKET_BAD }
                return transfer.openSocket(address)
            }), "CURLOPT_OPENSOCKETFUNCTION")
        }
        try check(CCurlShim_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.didReceiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }), "CURLOPT_HEADERFUNCTION")
        return easy
    }

    func releaseHandle() {
        if let easy { curl_easy_cleanup(easy) }
        easy = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    // MARK: Callbacks (loop thread, inside curl_multi_perform or curl_easy_pause)

    /// Opens the socket libcurl asks for, unless the request's address rule refuses the address.
    private func openSocket(_ address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let target = address.pointee
        if let rule = request.addressRule {
            let parts = URLParts(request.url)
            if let parts, rule.exempts(host: parts.host, port: parts.port) { return socket(target.family, target.socktype, target.protocol) }
            let host = parts?.host ?? request.url
            // libcurl's curl_sockaddr has room for any address family behind `addr`.
            let raw = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
            let bytes: [UInt8]
            let range: String?
            switch target.family {
            case AF_INET:
                var ip = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
                bytes = withUnsafeBytes(of: &ip) { Array($0) }
                range = AddressRule.internalRange(ipv4: bytes)
            case AF_INET6:
                var ip = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                bytes = withUnsafeBytes(of: &ip) { Array($0) }
                range = AddressRule.internalRange(ipv6: bytes)
            default:
                bytes = []
                range = "non-IP"
            }
            if let range {
                let text = AddressRule.text(family: target.family, bytes: bytes)
                addressRefusal = HTTPClientError(.refused, "\(request.method.rawValue) \(request.url): \(host) resolves to \(text), a \(range) address, which this request may not reach")
                return CCurlShim_SOCKET_BAD
            }
        }
        return socket(target.family, target.socktype, target.protocol)
    }

    private func didReceiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty {
            headerBlockEnded()
            return
        }
        if line.hasPrefix("HTTP/") {
            // A new response (after 1xx or a proxy's CONNECT reply) starts over.
            statusLine = line
            headers = HTTPHeaders()
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        headers.add(name, value)
    }

    private func headerBlockEnded() {
        guard statusLine != nil else { return }
        if (100..<200).contains(status) { statusLine = nil; return }  // interim response
        let version = statusLine.map { String($0.dropFirst(5).prefix { $0 != " " }) } ?? ""
        if request.followRedirects, [301, 302, 303, 307, 308].contains(status), let location = headers["Location"] {
            redirectTarget = URLParts.resolve(location, against: request.url) ?? ""
            mode = .discard
            return
        }
        let head = HTTPResponseHead(status: status, headers: headers, url: request.url, httpVersion: version)
        finalHead = head
        mode = (200..<300).contains(status) && request.method != .head ? .sink : .capture
        sink.receivedHead(head)
    }

    private func didReceiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch mode {
        case .awaitingHead:
            // Headers always end before the body; a body with no blank line first is tolerated.
            headerBlockEnded()
            if case .awaitingHead = mode { mode = .capture }
            return didReceiveBody(bytes)
        case .discard:
            return bytes.count
        case .capture:
            let room = Self.errorBodyLimit - errorBody.count
            if room > 0 { errorBody.append(contentsOf: bytes.prefix(room)) }
            return bytes.count
        case .sink:
            switch sink.receivedBody(bytes) {
            case .accepted:
                return bytes.count
            case .pause:
                isPaused = true
                return CCurlShim_WRITEFUNC_PAUSE
            case .abort(let error):
                sinkError = error
                return 0
            }
        }
    }

    // MARK: Completion

    /// Where to go next when this response was a redirect to follow; throws when it cannot be followed.
    func prepareRedirect() throws(HTTPClientError) -> Bool {
        guard let target = redirectTarget else { return false }
        guard !target.isEmpty, let next = URLParts(target), next.scheme == "http" || next.scheme == "https" else {
            throw HTTPClientError(.redirect, "redirect from \(request.url) has an unusable Location")
        }
        redirectCount += 1
        guard redirectCount <= request.maxRedirects else {
            throw HTTPClientError(.redirect, "more than \(request.maxRedirects) redirects, the last from \(request.url)")
        }
        let previous = URLParts(request.url)
        // A hop on the same origin is no downgrade; any other must use a scheme the request allows.
        guard request.redirectSchemes.contains(next.scheme) || previous?.origin == next.origin else {
            throw HTTPClientError(.redirect, "the redirect from \(request.url) to \(target) is not followed: only \(request.redirectSchemes.sorted().joined(separator: " or ")) redirects are")
        }
        if let rule = request.redirectRule,
           let why = rule(RedirectHop(from: request.url, to: target, scheme: next.scheme, host: next.host, port: next.port)) {
            throw HTTPClientError(.refused, "the redirect from \(request.url) to \(target) is refused: \(why)")
        }
        if previous?.origin != next.origin {
            // Credentials belong to the host they were meant for (curl's CURLOPT_UNRESTRICTED_AUTH=0 rule).
            request.headers.remove("Authorization")
        }
        if status == 303 || (request.method == .post && (status == 301 || status == 302)) {
            request.method = request.method == .head ? .head : .get
            request.body = nil
        }
        request.url = target
        return true
    }

    func summary() -> TransferSummary? {
        guard let finalHead else { return nil }
        return TransferSummary(head: finalHead, errorBody: errorBody)
    }

    /// Builds the error for a failed libcurl result.
    func error(for code: CURLcode) -> HTTPClientError {
        if let sinkError { return sinkError }
        if let addressRefusal, code == CURLE_COULDNT_CONNECT { return addressRefusal }
        let text = String(cString: curl_easy_strerror(code))
        let detail = String(cString: errorBuffer)
        let message = "\(request.method.rawValue) \(request.url): \(text)" + (detail.isEmpty || detail == text ? "" : " (\(detail))")
        return HTTPClientError(Self.errorCode(for: code), message, curlCode: Int(code.rawValue))
    }

    static func errorCode(for code: CURLcode) -> HTTPClientError.Code {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .resolve
        case CURLE_COULDNT_CONNECT: return .connect
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .tlsUntrusted
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_USE_SSL_FAILED:
            return .tlsHandshake
        case CURLE_WRITE_ERROR: return .io
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT: return .invalidRequest
        case CURLE_TOO_MANY_REDIRECTS: return .redirect
        default: return .transfer
        }
    }

    private static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

/// Scheme, host and port of a URL, with default ports filled in.
struct URLParts: Equatable {
    var scheme: String
    var host: String
    var port: Int

    init?(_ string: String) {
        guard let url = URL(string: string), let scheme = url.scheme?.lowercased(), let host = url.host else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
    }

    var origin: String { "\(scheme)://\(host):\(port)" }

    /// `host` or `host:port` as Docker names certs.d directories (port only when not the default).
    var authority: String {
        let defaultPort = scheme == "https" ? 443 : 80
        let h = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? h : "\(h):\(port)"
    }

    static func resolve(_ location: String, against base: String) -> String? {
        guard let baseURL = URL(string: base), let url = URL(string: location, relativeTo: baseURL) else { return nil }
        return url.absoluteString
    }
}
