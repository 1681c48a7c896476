/// A repository name, checked against the OCI distribution grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
///
/// A parsed name is safe to use as a relative path: no empty, `.` or `..` component.
public struct RepositoryName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Clients join `host[:port]/name`; Distribution caps names at 255 characters.
    public static let maximumLength = 255

    public let value: String

    public init?(_ string: some StringProtocol) {
        let s = String(string)
        guard !s.isEmpty, s.utf8.count <= Self.maximumLength else { return nil }
        // One pass over the bytes: every name on every request is checked here.
        let isValid = s.utf8.withContiguousStorageIfAvailable { Self.isValidName($0) } ?? Self.isValidName(Array(s.utf8)[...])
        guard isValid else { return nil }
        value = s
    }

    private static func isValidName<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> Bool where C.Index == Int, C.SubSequence: BidirectionalCollection<UInt8>, C.SubSequence.Index == Int {
        var start = bytes.startIndex
        var index = start
        while index <= bytes.endIndex {
            if index == bytes.endIndex || bytes[index] == UInt8(ascii: "/") {
                guard isValidComponent(bytes[start..<index]) else { return false }
                start = index + 1
            }
            index += 1
        }
        return true
    }

    public var description: String { value }
    public var components: [Substring] { value.split(separator: "/") }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }

    // component ::= alnum+ (separator alnum+)*, separator ::= "." | "_" | "__" | "-"+
    private static func isValidComponent<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> Bool where C.Index == Int {
        guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if isAlnum(c) { i += 1; continue }
            // A separator run: ".", "_", "__" or one or more "-".
            var j = i
            while j < bytes.endIndex && !isAlnum(bytes[j]) { j += 1 }
            let run = bytes[i..<j]
            let dot = UInt8(ascii: "."), underscore = UInt8(ascii: "_"), dash = UInt8(ascii: "-")
            let ok = (run.count == 1 && (run.first == dot || run.first == underscore))
                || (run.count == 2 && run.allSatisfy { $0 == underscore })
                || run.allSatisfy { $0 == dash }
            guard ok else { return false }
            i = j
        }
        return true
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String

    public init?(_ string: some StringProtocol) {
        let bytes = Array(string.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return nil }
        func word(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_")
        }
        guard word(first), bytes.dropFirst().allSatisfy({ word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { return nil }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.value < rhs.value }
}

/// What a manifest URL names: a tag or a digest.
public enum ManifestReference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    /// A digest if the string contains `:`, else a tag; nil if it is neither.
    public init?(_ string: some StringProtocol) {
        if string.contains(":") {
            guard let digest = Digest(string) else { return nil }
            self = .digest(digest)
        } else {
            guard let tag = Tag(string) else { return nil }
            self = .tag(tag)
        }
    }

    public var description: String {
        switch self {
        case .tag(let tag): return tag.value
        case .digest(let digest): return digest.description
        }
    }
}
