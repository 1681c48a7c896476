/// Helpers for metric label values.
public enum MetricLabel {
    /// `ipNotAllowed` → `ip_not_allowed`: error codes' descriptions in Prometheus' label style.
    public static func snakeCase(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 4)
        for character in text {
            if character.isUppercase {
                if !out.isEmpty { out.append("_") }
                out.append(contentsOf: character.lowercased())
            } else {
                out.append(character)
            }
        }
        return out
    }
}
