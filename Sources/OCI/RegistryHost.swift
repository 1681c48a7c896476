#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A registry's `host[:port]` in one spelling, so the policy, the router, the auth rules and the
/// configuration compare registries by what they are, not by how a client wrote them.
///
/// Canonical form: lower case; no trailing dot; a port written as a plain number without leading
/// zeros, and `:443` (HTTPS's own port, what every upstream speaks unless listed otherwise)
/// dropped; IPv4 literals as four decimal octets; IPv6 literals in RFC 5952 form in brackets;
/// Docker Hub's aliases (`index.docker.io`, `registry-1.docker.io`, …) as `docker.io`.
/// Spellings a resolver would read as an IPv4 address but that are not dotted decimal
/// (`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`, `127.1`) are not registry names at all.
///
/// The path form (`host_port`, in a repository name's first component, where `:` cannot appear)
/// is parsed and written here too.
public enum RegistryHost {
    /// The canonical spelling of `text` (`host`, `host:port`, `[v6]`, `[v6]:port`), or nil if it
    /// is not a registry host.
    public static func canonical(_ text: some StringProtocol) -> String? {
        let lowered = String(text).lowercased()
        guard !lowered.isEmpty, lowered.utf8.count <= 300 else { return nil }
        var host: Substring, portText: Substring?
        if lowered.hasPrefix("[") {
            guard let close = lowered.firstIndex(of: "]") else { return nil }
            host = lowered[lowered.index(after: lowered.startIndex)..<close]
            let rest = lowered[lowered.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard let v6 = canonicalIPv6(host) else { return nil }
            do { return join("[\(v6)]", try port(portText)) } catch { return nil }
        }
        if lowered.filter({ $0 == ":" }).count > 1 {
            // A bare IPv6 literal (only `?ns=` could carry one): no port possible.
            guard let v6 = canonicalIPv6(lowered[...]) else { return nil }
            return "[\(v6)]"
        }
        if let colon = lowered.lastIndex(of: ":") {
            host = lowered[..<colon]
            portText = lowered[lowered.index(after: colon)...]
        } else {
            host = lowered[...]
        }
        let portValue: Int?
        do { portValue = try port(portText) } catch { return nil }
        if host.hasSuffix(".") { host = host.dropLast() }
        guard !host.isEmpty, host.utf8.count <= 253 else { return nil }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }) else { return nil }
        }
        let name: String
        if let last = labels.last, looksNumeric(last) {
            // A resolver reads this as an IPv4 address: only the dotted-decimal spelling names one.
            guard labels.count == 4, labels.allSatisfy({ isDecimalOctet($0) }) else { return nil }
            name = host.description
        } else {
            name = DockerHubHost.canonical(String(host))
        }
        return join(name, portValue)
    }

    /// `host_port` for a canonical `host:port` (the form a repository name's first component
    /// takes); nil for an IPv6 literal, which no repository name can hold.
    public static func pathForm(_ canonical: String) -> String? {
        guard !canonical.hasPrefix("[") else { return nil }
        guard let colon = canonical.lastIndex(of: ":") else { return canonical }
        return canonical[..<colon] + "_" + canonical[canonical.index(after: colon)...]
    }

    /// What a repository name's first component says about a registry.
    public enum PathComponent: Equatable, Sendable {
        /// An ordinary repository component (no `.`, not `localhost`).
        case repository
        /// A registry, canonical.
        case registry(String)
        /// Looks like a host (has a `.` or is `localhost[_port]`) but is not one in any canonical
        /// spelling (`0177.0.0.1`, `host_0`, …).
        case invalid
    }

    /// Reads a repository name's first component: `host`, `host_port` (`registry.example_5000`,
    /// `localhost_5000`), or an ordinary component.
    public static func pathComponent(_ component: some StringProtocol) -> PathComponent {
        var text = String(component)
        var hasPort = false
        if let underscore = text.lastIndex(of: "_") {
            let digits = text[text.index(after: underscore)...]
            let host = text[..<underscore]
            // `team_5` is a name: `host_5000` is `host:5000` only for a host that looks like one.
            if !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitCharacter), host.contains(".") || host == "localhost" {
                text.replaceSubrange(underscore...underscore, with: ":")
                hasPort = true
            }
        }
        let host = hasPort ? String(text[..<text.lastIndex(of: ":")!]) : text
        guard host.contains(".") || host == "localhost" else { return .repository }
        guard !host.contains("_"), let canonical = canonical(text) else { return .invalid }
        return .registry(canonical)
    }

    private static func join(_ host: String, _ port: Int?) -> String {
        guard let port, port != 443 else { return host }
        return "\(host):\(port)"
    }

    /// nil for no port; throws for one that is not 1…65535.
    private static func port(_ text: Substring?) throws(PortError) -> Int? {
        guard let text else { return nil }
        // Leading zeros are the same number (`:05000` is `:5000`), however many a client writes.
        let significant = text.drop { $0 == "0" }
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigitCharacter), significant.utf8.count <= 5,
              let value = Int(significant), (1...65535).contains(value) else { throw PortError() }
        return value
    }

    private struct PortError: Error {}

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// All digits, or `0x` and hex digits: a label an IPv4 parser takes as a number.
    private static func looksNumeric(_ label: Substring) -> Bool {
        if label.allSatisfy(\.isASCIIDigitCharacter) { return true }
        guard label.hasPrefix("0x") else { return false }
        return label.dropFirst(2).allSatisfy { $0.isHexDigit }
    }

    private static func isDecimalOctet(_ label: Substring) -> Bool {
        guard label.allSatisfy(\.isASCIIDigitCharacter), label.count <= 3, label == "0" || !label.hasPrefix("0"),
              let value = Int(label) else { return false }
        return value <= 255
    }

    private static func canonicalIPv6(_ text: Substring) -> String? {
        guard !text.isEmpty, text.utf8.count < 64, !text.contains("%") else { return nil }
        var address = in6_addr()
        guard inet_pton(AF_INET6, String(text), &address) == 1 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}
