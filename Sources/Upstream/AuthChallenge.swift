/// One challenge from a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
public struct AuthChallenge: Sendable, Equatable {
    /// Lowercased scheme: "bearer", "basic", …
    public var scheme: String
    /// Parameters with lowercased names; quoted values unquoted and unescaped.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// Space-separated scopes, as the registry asked for them.
    public var scope: String? { parameters["scope"] }
    public var error: String? { parameters["error"] }

    public var isBearer: Bool { scheme == "bearer" }
    public var isBasic: Bool { scheme == "basic" }

    /// Parses every challenge in a `WWW-Authenticate` value (RFC 9110 §11.6.1): several
    /// challenges may share one header, and quoted strings may contain commas and `\"`.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = ChallengeScanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        var current: AuthChallenge?
        while true {
            scanner.skip { $0 == .space || $0 == .tab || $0 == .comma }
            guard scanner.peek != nil else { break }
            guard let token = scanner.token() else { scanner.advance(); continue }
            scanner.skip { $0 == .space || $0 == .tab }
            if scanner.peek == .equals, current != nil {
                // name=value of the current challenge (a token68 like "abc==" ends with '=' too, but
                // registries don't send those; such a value is kept under its own text).
                scanner.advance()
                scanner.skip { $0 == .space || $0 == .tab }
                let value = scanner.peek == .quote ? scanner.quoted() : (scanner.token() ?? "")
                current?.parameters[token.lowercased()] = value
            } else {
                if let done = current { challenges.append(done) }
                current = AuthChallenge(scheme: token, parameters: [:])
            }
        }
        if let done = current { challenges.append(done) }
        return challenges
    }
}

private extension UInt8 {
    static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
}

private struct ChallengeScanner {
    let bytes: [UInt8]
    var i = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }
    mutating func advance() { i += 1 }
    mutating func skip(while predicate: (UInt8) -> Bool) {
        while let c = peek, predicate(c) { i += 1 }
    }

    /// A token (RFC 9110 tchar run), or nil at the end or before a non-token byte.
    mutating func token() -> String? {
        let start = i
        while let c = peek, Self.isTokenChar(c) { i += 1 }
        if i == start { return nil }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// A quoted string starting at `"`, unescaped.
    mutating func quoted() -> String {
        advance()
        var out: [UInt8] = []
        while let c = peek {
            advance()
            if c == .quote { break }
            if c == .backslash, let next = peek { out.append(next); advance(); continue }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~/:".utf8).contains(c)
        }
    }
}
