import HTTPClient

/// Which schemes to try for a registry, Docker's way: HTTPS first always; plain HTTP only for
/// registries on loopback addresses and registries listed insecure, and only after HTTPS failed.
public enum SchemePolicy {
    public struct Candidate: Sendable, Equatable, CustomStringConvertible {
        public var scheme: String
        /// Verify the certificate (HTTPS only).
        public var verifyTLS: Bool
        public var description: String { scheme == "https" ? (verifyTLS ? "https" : "https (verification off)") : scheme }
    }

    /// Candidates in the order they are tried.
    /// - insecure: HTTPS without verification, then HTTP.
    /// - loopback: HTTPS with verification, then HTTP (a certificate that fails verification is
    ///   reported, not bypassed: only a server that does not speak TLS falls back).
    /// - others: HTTPS with verification only.
    /// A known `scheme` is the only candidate (verification off only when insecure).
    public static func candidates(registryHost: String, insecure: Bool, scheme: String? = nil) -> [Candidate] {
        if let scheme { return [Candidate(scheme: scheme, verifyTLS: scheme == "https" && !insecure)] }
        if insecure { return [Candidate(scheme: "https", verifyTLS: false), Candidate(scheme: "http", verifyTLS: false)] }
        if isLoopback(registryHost) { return [Candidate(scheme: "https", verifyTLS: true), Candidate(scheme: "http", verifyTLS: false)] }
        return [Candidate(scheme: "https", verifyTLS: true)]
    }

    /// Whether a failure on `candidate` lets the next candidate be tried.
    public static func fallsBack(after error: HTTPClientError, insecure: Bool) -> Bool {
        switch error.code {
        case .tlsHandshake, .transfer: return true           // e.g. "wrong version number": plain HTTP server
        case .tlsUntrusted, .connect, .timeout: return insecure
        default: return false
        }
    }

    /// `localhost`, `*.localhost`, 127.0.0.0/8 and ::1, with or without a port.
    public static func isLoopback(_ hostAndPort: String) -> Bool {
        let host = hostOnly(hostAndPort).lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// `host:port` → `host`; `[::1]:5000` → `::1`.
    public static func hostOnly(_ hostAndPort: String) -> String {
        if hostAndPort.hasPrefix("["), let close = hostAndPort.firstIndex(of: "]") {
            return String(hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close])
        }
        if hostAndPort.filter({ $0 == ":" }).count > 1 { return hostAndPort }  // bare IPv6
        return String(hostAndPort.split(separator: ":", maxSplits: 1).first ?? "")
    }
}
