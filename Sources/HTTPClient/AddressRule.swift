import Foundation

/// Which IP addresses a request may connect to: the public internet, plus any address for the
/// hosts exempted by name (the ones an operator listed).
///
/// Checked twice: on a URL whose host is an address literal (or `localhost`) before anything is
/// sent, and on every socket libcurl opens (`CURLOPT_OPENSOCKETFUNCTION`), with the address it
/// is about to connect to. The second check is what makes a DNS name that resolves (or is rebound)
/// to 127.0.0.1 fail: there is no gap between the check and the connection.
public struct AddressRule: Sendable, Equatable {
    /// `host` (any port) or `host:port`, lowercased, IPv6 without brackets.
    public var exemptHosts: Set<String>

    public init(exemptHosts: Set<String> = []) {
        self.exemptHosts = Set(exemptHosts.map { $0.lowercased() })
    }

    /// Whether connections to `host` on `port` skip the check.
    public func exempts(host: String, port: Int) -> Bool {
        let h = host.lowercased()
        let bare = h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
        return exemptHosts.contains(bare) || exemptHosts.contains("\(bare):\(port)") || exemptHosts.contains("[\(bare)]:\(port)")
    }

    /// Why a URL host written as an address (or `localhost`) is refused, or nil.
    public static func refusalForLiteral(_ host: String) -> String? {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h.hasSuffix(".") { h.removeLast() }
        if h == "localhost" || h.hasSuffix(".localhost") { return "loopback" }
        if let bytes = ipv4(h) { return internalRange(ipv4: bytes) }
        if let bytes = ipv6(h) { return internalRange(ipv6: bytes) }
        return nil
    }

    /// The name of the non-public range `bytes` (4) falls in, or nil for a public address.
    public static func internalRange(ipv4 b: [UInt8]) -> String? {
        guard b.count == 4 else { return "malformed" }
        switch (b[0], b[1]) {
        case (0, _): return "unspecified"                       // 0.0.0.0/8 ("this network")
        case (127, _): return "loopback"
        case (10, _): return "private"
        case (172, 16...31): return "private"
        case (192, 168): return "private"
        case (169, 254): return "link-local"
        case (100, 64...127): return "shared (carrier-grade NAT)"  // RFC 6598, used inside clouds
        case (224...255, _): return "multicast or reserved"
        default: return nil
        }
    }

    /// The name of the non-public range `bytes` (16) falls in, or nil for a public address.
    /// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible forms are judged by their IPv4 address.
    public static func internalRange(ipv6 b: [UInt8]) -> String? {
        guard b.count == 16 else { return "malformed" }
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] == 1 ? "loopback" : (b[15] == 0 ? "unspecified" : "reserved") }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return internalRange(ipv4: Array(b[12..<16])) }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return internalRange(ipv4: Array(b[12..<16])) }
        // NAT64 (64:ff9b::/96) carries an IPv4 address too.
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) {
            return internalRange(ipv4: Array(b[12..<16]))
        }
        if b[0] == 0xfe && (b[1] & 0xc0) == 0x80 { return "link-local" }
        if (b[0] & 0xfe) == 0xfc { return "private (unique local)" }
        if b[0] == 0xff { return "multicast" }
        if b[0] == 0xfe && (b[1] & 0xc0) == 0xc0 { return "site-local" }
        return nil
    }

    /// An IPv4 literal as 4 bytes: dotted quad, and the decimal, octal, hex and short spellings
    /// (`2130706433`, `0x7f.1`, `127.1`) that `inet_aton`, getaddrinfo and libcurl also accept.
    static func ipv4(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == "x" }) else { return nil }
        var address = in_addr()
        guard inet_aton(text, &address) != 0 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// An IPv6 literal (without brackets), as 16 bytes.
    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// Text of an address for messages.
    static func text(family: Int32, bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        return ok ? String(cString: buffer) : "?"
    }
}

/// What a redirect rule is shown of one hop.
public struct RedirectHop: Sendable {
    /// The URL that answered with the redirect.
    public var from: String
    /// Where it points (absolute).
    public var to: String
    public var scheme: String
    /// Lowercased; IPv6 without brackets.
    public var host: String
    public var port: Int
}
