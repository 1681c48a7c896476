/// A request URL split into the resource (the URL without CloudFront's signing parameters,
/// your own query parameters kept in order) and the signing parameters themselves.
struct SignedURL: Sendable, Equatable {
    static let signingParameterNames: Set<String> = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"]

    /// What the policy's `Resource` is compared with; for a canned policy, what was signed.
    var resource: String
    var expires: String?
    var policy: String?
    var signature: String?
    var keyPairID: String?
    var hashAlgorithm: String?

    /// Splits `url`; a fragment is dropped (clients never send one). Throws `malformed` when
    /// a signing parameter appears twice.
    init(_ url: String) throws(CDNError) {
        var text = Substring(url)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        guard let question = text.firstIndex(of: "?") else {
            resource = String(text)
            return
        }
        let base = text[..<question]
        let query = text[text.index(after: question)...]
        var kept: [Substring] = []
        var seen: Set<String> = []
        for item in query.split(separator: "&", omittingEmptySubsequences: false) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            guard Self.signingParameterNames.contains(name) else {
                kept.append(item)
                continue
            }
            guard seen.insert(name).inserted else {
                throw CDNError(.malformed, "the URL has more than one \(name) parameter")
            }
            let value = pair.count == 2 ? Self.percentDecoded(pair[1]) : ""
            switch name {
            case "Expires": expires = value
            case "Policy": policy = value
            case "Signature": signature = value
            case "Key-Pair-Id": keyPairID = value
            default: hashAlgorithm = value
            }
        }
        let remaining = kept.joined(separator: "&")
        resource = kept.isEmpty ? String(base) : "\(base)?\(remaining)"
    }

    /// Undoes %XX escapes (some clients escape `~` or `=`); invalid escapes are kept as they are.
    static func percentDecoded(_ text: Substring) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.first {
            if byte == UInt8(ascii: "%"), utf8.count >= 3,
               let high = hexValue(utf8[utf8.startIndex + 1]), let low = hexValue(utf8[utf8.startIndex + 2]) {
                bytes.append(high << 4 | low)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// CloudFront's `Resource` wildcards: `*` matches zero or more characters, `?` exactly one,
/// anywhere in the pattern.
enum ResourcePattern {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0, ti = 0
        var starPattern = -1, starText = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                starPattern = pi
                starText = ti
                pi += 1
            } else if starPattern >= 0 {
                // Let the last `*` swallow one more character and retry.
                starText += 1
                ti = starText
                pi = starPattern + 1
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
