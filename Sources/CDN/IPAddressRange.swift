#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One IPv4 or IPv6 CIDR range, the value of a policy's `AWS:SourceIp`.
///
/// A bare address means the single host (`/32`, `/128`). Matching treats an IPv4-mapped
/// IPv6 client address (`::ffff:192.0.2.1`, what a dual-stack socket reports) as the
/// IPv4 address it carries.
public struct IPAddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The address as written (4 or 16 bytes), host bits included.
    public let address: [UInt8]
    public let prefixLength: Int

    /// Parses `192.0.2.0/24`, `2001:db8::/32`, or a bare address.
    public init?(_ text: some StringProtocol) {
        let trimmed = String(text).trimmingSpaces
        let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.parseAddress(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let prefix = Int(digits), prefix <= maximum else { return nil }
            self.prefixLength = prefix
        } else {
            self.prefixLength = maximum
        }
        self.address = address
    }

    /// The single-host range for a client address (`/32` or `/128`).
    public init?(host: some StringProtocol) {
        guard let address = Self.parseAddress(String(host).trimmingSpaces) else { return nil }
        self.address = address
        self.prefixLength = address.count * 8
    }

    public var isIPv6: Bool { address.count == 16 }

    /// `address/prefix`, IPv6 in its compressed form: the text that goes into a policy.
    public var description: String { "\(Self.format(address))/\(prefixLength)" }

    /// True when `clientAddress` (an IP address, not a range) lies inside this range.
    public func contains(_ clientAddress: some StringProtocol) -> Bool {
        guard var client = Self.parseAddress(String(clientAddress).trimmingSpaces) else { return false }
        if address.count == 4, client.count == 16, client.prefix(12).elementsEqual(Self.mappedPrefix) {
            client = Array(client.suffix(4))
        } else if address.count == 16, client.count == 4 {
            client = Self.mappedPrefix + client
        }
        guard client.count == address.count else { return false }
        var remaining = prefixLength
        for index in address.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[index] & mask != client[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    private static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    /// 4 bytes for IPv4, 16 for IPv6 (a `%zone` suffix is ignored); `nil` otherwise.
    static func parseAddress(_ text: String) -> [UInt8]? {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        if text.contains(":") {
            var storage = in6_addr()
            guard inet_pton(AF_INET6, text, &storage) == 1 else { return nil }
            return withUnsafeBytes(of: &storage) { Array($0) }
        }
        var storage = in_addr()
        guard inet_pton(AF_INET, text, &storage) == 1 else { return nil }
        return withUnsafeBytes(of: &storage) { Array($0) }
    }

    private static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
