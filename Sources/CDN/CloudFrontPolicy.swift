import Foundation

/// A CloudFront policy statement: what a signed URL grants, and the exact JSON bytes signed.
///
/// Rendered with no whitespace, keys in the order of AWS's published template:
/// ```
/// {"Statement":[{"Resource":"<url>","Condition":{"DateLessThan":{"AWS:EpochTime":<n>},
///   "DateGreaterThan":{"AWS:EpochTime":<n>},"IpAddress":{"AWS:SourceIp":"<cidr>"}}}]}
/// ```
/// (shown wrapped). With only `Resource` and `DateLessThan` this is byte for byte the
/// canned policy CloudFront rebuilds from `Expires`. AWS documents the order of the
/// `Condition` keys as free; a custom policy travels in the URL, so the signature covers
/// the bytes sent, whatever their order.
public struct CloudFrontPolicy: Sendable, Equatable {
    /// The URL (or wildcard pattern) the policy grants; `nil` grants any resource.
    public var resource: String?
    /// `DateLessThan`: the URL expires at this Unix time (seconds). Required.
    public var expires: Int64
    /// `DateGreaterThan`: the URL is refused before this Unix time (seconds).
    public var notBefore: Int64?
    /// `IpAddress` / `AWS:SourceIp`: the client address range allowed.
    public var sourceIP: IPAddressRange?

    public init(resource: String?, expires: Int64, notBefore: Int64? = nil, sourceIP: IPAddressRange? = nil) {
        self.resource = resource
        self.expires = expires
        self.notBefore = notBefore
        self.sourceIP = sourceIP
    }

    /// The canned policy for `resource` expiring at `expires`.
    public static func canned(resource: String, expires: Int64) -> CloudFrontPolicy {
        CloudFrontPolicy(resource: resource, expires: expires)
    }

    /// True when CloudFront can rebuild this policy from `Expires` (a canned policy).
    public var isCanned: Bool { resource != nil && notBefore == nil && sourceIP == nil }

    /// The whitespace-free UTF-8 JSON that is signed.
    public var jsonBytes: [UInt8] { Array(json.utf8) }

    public var json: String {
        var text = #"{"Statement":[{"#
        if let resource {
            text += #""Resource":""#
            Self.appendEscaped(resource, to: &text)
            text += #"","#
        }
        text += #""Condition":{"DateLessThan":{"AWS:EpochTime":\#(expires)}"#
        if let notBefore { text += #","DateGreaterThan":{"AWS:EpochTime":\#(notBefore)}"# }
        if let sourceIP { text += #","IpAddress":{"AWS:SourceIp":"\#(sourceIP)"}"# }
        text += "}}]}"
        return text
    }

    /// JSON string escaping as Go's encoder does with HTML escaping off (what the AWS SDK
    /// for Go signs): `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`.
    private static func appendEscaped(_ value: String, to text: inout String) {
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{2028}": text += "\\u2028"
            case "\u{2029}": text += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
    }
}

extension CloudFrontPolicy {
    /// Reads a custom policy as CloudFront does: exactly one statement, `DateLessThan`
    /// required, only the documented keys. The signature is checked over the bytes given,
    /// so key order and spacing here do not matter.
    public init(jsonBytes bytes: [UInt8]) throws(CDNError) {
        func malformed(_ why: String) -> CDNError {
            CDNError(.malformed, "the Policy parameter is not a valid CloudFront policy: \(why)")
        }
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw malformed("it is not JSON")
        }
        guard let top = root as? [String: Any], let statements = top["Statement"] as? [Any] else {
            throw malformed("no \"Statement\" list")
        }
        guard top.count == 1 else { throw malformed("unexpected keys beside \"Statement\"") }
        guard statements.count == 1, let statement = statements[0] as? [String: Any] else {
            throw malformed("it must hold exactly one statement")
        }
        guard Set(statement.keys).isSubset(of: ["Resource", "Condition"]) else {
            throw malformed("a statement holds only \"Resource\" and \"Condition\"")
        }
        var resource: String?
        if let value = statement["Resource"] {
            guard let text = value as? String else { throw malformed("\"Resource\" must be a string") }
            resource = text
        }
        guard let condition = statement["Condition"] as? [String: Any] else { throw malformed("no \"Condition\"") }
        guard Set(condition.keys).isSubset(of: ["DateLessThan", "DateGreaterThan", "IpAddress"]) else {
            throw malformed("\"Condition\" holds only DateLessThan, DateGreaterThan and IpAddress")
        }
        guard let lessThan = condition["DateLessThan"] else { throw malformed("\"DateLessThan\" is required") }
        let expires = try Self.epoch(lessThan, "DateLessThan", malformed)
        var notBefore: Int64?
        if let greaterThan = condition["DateGreaterThan"] {
            notBefore = try Self.epoch(greaterThan, "DateGreaterThan", malformed)
        }
        var sourceIP: IPAddressRange?
        if let ipAddress = condition["IpAddress"] {
            guard let map = ipAddress as? [String: Any], map.count == 1, let text = map["AWS:SourceIp"] as? String else {
                throw malformed("\"IpAddress\" must be {\"AWS:SourceIp\":\"<CIDR>\"}")
            }
            guard let range = IPAddressRange(text) else { throw malformed("\(CDNError.quoted(text)) is not an IP address or CIDR range") }
            sourceIP = range
        }
        self.init(resource: resource, expires: expires, notBefore: notBefore, sourceIP: sourceIP)
    }

    private static func epoch(_ value: Any, _ name: String, _ malformed: (String) -> CDNError) throws(CDNError) -> Int64 {
        guard let map = value as? [String: Any], map.count == 1, let number = map["AWS:EpochTime"] as? NSNumber else {
            throw malformed("\"\(name)\" must be {\"AWS:EpochTime\":<seconds>}")
        }
        let double = number.doubleValue
        guard double == double.rounded(), abs(double) < 1e15 else {
            throw malformed("\"\(name)\" must be whole Unix seconds")
        }
        return number.int64Value
    }
}
