/// A single `Range: bytes=…` request (RFC 9110 §14.1.2), resolved against a size.
public struct ByteRange: Equatable, Sendable {
    /// First byte, inclusive.
    public var start: Int64
    /// Last byte, inclusive.
    public var end: Int64
    public var length: Int64 { end - start + 1 }

    public enum Outcome: Equatable, Sendable {
        /// No usable range: serve the whole body (no header, or several ranges).
        case whole
        case partial(ByteRange)
        /// Malformed, or no byte of it lies within the body: 416.
        case unsatisfiable
    }

    public static func resolve(_ header: String?, size: Int64) -> Outcome {
        guard let header else { return .whole }
        let trimmed = header.trimmingWhitespace()
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .unsatisfiable }
        let spec = trimmed.dropFirst(6).trimmingWhitespace()
        // Several ranges would need multipart/byteranges; RFC 9110 lets a server ignore Range.
        if spec.contains(",") { return .whole }
        let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2 else { return .unsatisfiable }
        let first = bounds[0].trimmingWhitespace(), last = bounds[1].trimmingWhitespace()
        guard first.allSatisfy(\.isASCIIDigit), last.allSatisfy(\.isASCIIDigit) else { return .unsatisfiable }
        guard size > 0, !(first.isEmpty && last.isEmpty) else { return .unsatisfiable }
        // Digits past Int64.max are still a well-formed position, beyond any body: a suffix that
        // long is the whole body, a last position that large is the end, a first one is past it.
        if first.isEmpty {
            // Suffix range: the last N bytes.
            let suffix = Int64(last) ?? .max
            guard suffix > 0 else { return .unsatisfiable }
            return .partial(ByteRange(start: suffix >= size ? 0 : size - suffix, end: size - 1))
        }
        guard let start = Int64(first), start < size else { return .unsatisfiable }
        if last.isEmpty { return .partial(ByteRange(start: start, end: size - 1)) }
        let end = Int64(last) ?? .max
        guard end >= start else { return .unsatisfiable }
        return .partial(ByteRange(start: start, end: min(end, size - 1)))
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        var s = self[...]
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
