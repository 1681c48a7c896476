/// A failure to sign, verify or configure CloudFront-style signed URLs.
///
/// Verification failures carry a message meant for the person holding the URL (it is
/// suitable for a 403 body: it names what is wrong, never a key). Configuration failures
/// name the full key path (`middleware.storage[0].options.keypairid: required`).
public struct CDNError: Error, Sendable, CustomStringConvertible {
    /// Broad kind of failure. A struct, so kinds can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case expired, notYetValid, badSignature, unknownKey, ipNotAllowed, resourceMismatch, malformed
            case invalidKey, invalidConfiguration
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The URL's `Expires` (or the policy's `DateLessThan`) has passed.
        public static let expired = Code(.expired)
        /// The policy's `DateGreaterThan` has not been reached yet.
        public static let notYetValid = Code(.notYetValid)
        /// The signature does not match the policy (tampered URL, or signed by another key).
        public static let badSignature = Code(.badSignature)
        /// `Key-Pair-Id` names no key this edge trusts.
        public static let unknownKey = Code(.unknownKey)
        /// The client's address is outside the policy's `AWS:SourceIp` range.
        public static let ipNotAllowed = Code(.ipNotAllowed)
        /// The requested URL is not the policy's `Resource` (nor matched by its wildcards).
        public static let resourceMismatch = Code(.resourceMismatch)
        /// Signing parameters are missing, repeated or unreadable, or the policy is not valid JSON.
        public static let malformed = Code(.malformed)
        /// A PEM key could not be read or is not an RSA key.
        public static let invalidKey = Code(.invalidKey)
        /// A configuration option is missing or has a bad value.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        /// Stable and bounded: safe as a metric label.
        public var description: String { kind.rawValue }
    }

    public var code: Code
    /// For humans: what is wrong and what to do about it.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// Request-supplied text for a message that may reach a response body: in quotes,
    /// control and non-ASCII characters escaped, cut at 256 characters.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars.prefix(256) {
            if scalar.isASCII && scalar.value >= 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "\\" {
                result.unicodeScalars.append(scalar)
            } else {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        if text.unicodeScalars.count > 256 { result += "…" }
        return result + "\""
    }
}
