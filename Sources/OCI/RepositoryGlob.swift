/// A repository-name pattern: `*` matches within one path segment, `**` across segments.
/// `team/*` matches `team/app` but not `team/app/base`; `team/**` matches both; `**` matches all.
/// Shared by the registry policy and the auth rules, so both read patterns the same way.
public struct RepositoryGlob: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let bytes: [UInt8]

    /// Nil for an empty pattern or one with characters a repository name (or a glob) cannot hold.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "*"): return true
            default: return false
            }
        }) else { return nil }
        self.text = String(text)
        bytes = Array(text.utf8)
    }

    public var description: String { text }

    public func matches(_ name: some StringProtocol) -> Bool {
        Self.match(bytes[...], Array(name.utf8)[...])
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let head = pattern.first else { return name.isEmpty }
        guard head == UInt8(ascii: "*") else {
            guard name.first == head else { return false }
            return match(pattern.dropFirst(), name.dropFirst())
        }
        let crossesSegments = pattern.dropFirst().first == UInt8(ascii: "*")
        let rest = pattern.dropFirst(crossesSegments ? 2 : 1)
        // Try every length the star could take, shortest first; patterns are short and the operator's.
        var candidate = name
        while true {
            if match(rest, candidate) { return true }
            guard let next = candidate.first, crossesSegments || next != UInt8(ascii: "/") else { return false }
            candidate = candidate.dropFirst()
        }
    }
}
