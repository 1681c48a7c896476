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
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let suffix = Int64(last), suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(ByteRange(start: max(0, size - suffix), end: size - 1))
        }
        guard let start = Int64(first), start < size else { return .unsatisfiable }
        if last.isEmpty { return .partial(ByteRange(start: start, end: size - 1)) }
        guard let end = Int64(last), end >= start else { return .unsatisfiable }
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
