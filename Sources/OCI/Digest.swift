import Crypto

/// A content digest, `algorithm:encoded`, as the OCI image spec defines it.
///
/// Parsing enforces the descriptor grammar, and the exact form of the registered
/// algorithms (`sha256`: 64 lowercase hex digits, `sha512`: 128). Only those two can be
/// computed; an unknown but grammatical algorithm still parses (the spec asks for that)
/// and is refused where bytes must be verified.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let algorithm: String
    public let encoded: String

    /// Parses `sha256:…`; `nil` when the string is not a digest.
    public init?(_ string: some StringProtocol) {
        guard let colon = string.firstIndex(of: ":") else { return nil }
        let algorithm = String(string[..<colon])
        let encoded = String(string[string.index(after: colon)...])
        guard Self.isValidAlgorithm(algorithm), Self.isValidEncoded(encoded) else { return nil }
        switch algorithm {
        case "sha256": guard encoded.utf8.count == 64, encoded.utf8.allSatisfy(Self.isLowerHex) else { return nil }
        case "sha512": guard encoded.utf8.count == 128, encoded.utf8.allSatisfy(Self.isLowerHex) else { return nil }
        default: break
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    private init(uncheckedAlgorithm algorithm: String, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    public var description: String { "\(algorithm):\(encoded)" }

    /// True for the algorithms Wharf can compute and verify.
    public var isVerifiable: Bool { algorithm == "sha256" || algorithm == "sha512" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// The SHA-256 digest of `bytes`.
    public static func sha256(of bytes: some Sequence<UInt8>) -> Digest {
        var hasher = DigestHasher(algorithm: .sha256)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// The digest of `bytes` computed with this digest's algorithm (nil if not verifiable).
    public func matches(_ bytes: some Sequence<UInt8>) -> Bool {
        guard var hasher = DigestHasher(for: self) else { return false }
        hasher.update(Array(bytes))
        return hasher.finalize() == self
    }

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
    }

    // algorithm ::= component (separator component)*, component ::= [a-z0-9]+, separator ::= [+._-]
    private static func isValidAlgorithm(_ s: String) -> Bool {
        var previousWasSeparator = true
        for c in s.utf8 {
            let isComponent = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
            let isSeparator = c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            if isComponent { previousWasSeparator = false }
            else if isSeparator && !previousWasSeparator { previousWasSeparator = true }
            else { return false }
        }
        return !s.isEmpty && !previousWasSeparator
    }

    // encoded ::= [a-zA-Z0-9=_-]+
    private static func isValidEncoded(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)
                || c == UInt8(ascii: "=") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    fileprivate static func make(algorithm: String, bytes: some Sequence<UInt8>) -> Digest {
        var hex = ""
        hex.reserveCapacity(128)
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        hex = String(decoding: out, as: UTF8.self)
        return Digest(uncheckedAlgorithm: algorithm, encoded: hex)
    }
}

/// Incremental hashing for the verifiable digest algorithms.
public struct DigestHasher: Sendable {
    public enum Algorithm: String, Sendable { case sha256, sha512 }

    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    public let algorithm: Algorithm

    public init(algorithm: Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// A hasher for `digest`'s algorithm, or nil when Wharf cannot compute it.
    public init?(for digest: Digest) {
        guard let algorithm = Algorithm(rawValue: digest.algorithm) else { return nil }
        self.init(algorithm: algorithm)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        switch state {
        case .sha256(let h): return Digest.make(algorithm: "sha256", bytes: h.finalize())
        case .sha512(let h): return Digest.make(algorithm: "sha512", bytes: h.finalize())
        }
    }
}
