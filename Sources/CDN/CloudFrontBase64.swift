import Foundation

/// CloudFront's URL-safe variant of base64: standard (RFC 2045) base64 with
/// `+` → `-`, `=` → `_` and `/` → `~`. Used for both `Policy` and `Signature`.
public enum CloudFrontBase64 {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let standard = Data(bytes).base64EncodedString()
        var scalars = String.UnicodeScalarView()
        scalars.reserveCapacity(standard.unicodeScalars.count)
        for scalar in standard.unicodeScalars {
            switch scalar {
            case "+": scalars.append("-")
            case "=": scalars.append("_")
            case "/": scalars.append("~")
            default: scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// Decodes the URL-safe form; standard base64 characters are accepted too, since some
    /// clients send `Signature` un-substituted. `nil` when the text is not base64.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "-": scalars.append("+")
            case "_": scalars.append("=")
            case "~": scalars.append("/")
            default: scalars.append(scalar)
            }
        }
        // Padding is sometimes dropped by hand-edited URLs; restore it.
        while scalars.count % 4 != 0 { scalars.append("=") }
        guard let data = Data(base64Encoded: String(scalars)) else { return nil }
        return Array(data)
    }
}
