import Crypto
import Foundation

/// Issues and checks Wharf's bearer tokens: JWTs (Distribution's claim set: `iss`, `sub`,
/// `aud`, `exp`, `nbf`, `iat`, `jti`, `access`) signed with HMAC-SHA256 under a key only
/// this server holds. Clients treat them as opaque.
struct TokenAuthority: Sendable {
    /// One `access` entry: what the token lets its holder do to one resource.
    struct Grant: Codable, Hashable, Sendable {
        var type: String
        var name: String
        var actions: [String]
    }

    struct Claims: Codable, Equatable, Sendable {
        var iss: String
        /// The user; empty for an anonymous client.
        var sub: String
        var aud: String
        var exp: Int64
        var nbf: Int64
        var iat: Int64
        var jti: String
        var access: [Grant]

        /// True when the token lets its holder do `action` to `name` of `type`.
        func allows(type: String, name: String, action: String) -> Bool {
            access.contains { grant in
                grant.type == type && ResourceScope.routeName(grant.name) == name
                    && (grant.actions.contains(action) || grant.actions.contains("*"))
            }
        }
    }

    struct VerificationError: Error, Equatable, CustomStringConvertible {
        let reason: String
        static let malformed = VerificationError(reason: "malformed token")
        static let badSignature = VerificationError(reason: "bad signature")
        static let expired = VerificationError(reason: "token expired")
        static let notYetValid = VerificationError(reason: "token not yet valid")
        static let wrongAudience = VerificationError(reason: "token is for another service")
        static let wrongIssuer = VerificationError(reason: "token from another issuer")
        var description: String { reason }
    }

    let key: SymmetricKey
    let issuer: String
    let service: String
    let lifetime: Duration
    /// Clock skew tolerated on `nbf`, for tokens checked by another replica sharing the key.
    /// None on `exp`: a token is refused once its `expires_in` has passed.
    let leeway: Int64 = 5

    private static let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    /// A token for `subject` (empty: anonymous) granting `access`, valid from `now` for `lifetime`.
    func issue(subject: String, access: [Grant], now: Date) -> (token: String, claims: Claims) {
        let issuedAt = Int64(now.timeIntervalSince1970)
        var id = SystemRandomNumberGenerator()
        let claims = Claims(iss: issuer, sub: subject, aud: service, exp: issuedAt + lifetime.components.seconds,
                            nbf: issuedAt, iat: issuedAt, jti: String(id.next(), radix: 16), access: access)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and arrays cannot fail.
        let payload = Self.base64URL((try? encoder.encode(claims)) ?? Data())
        let signingInput = Self.header + "." + payload
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return (signingInput + "." + Self.base64URL(Data(signature)), claims)
    }

    /// The claims of `token` if this authority signed it, for this service, and it is valid at `now`.
    func verify(_ token: String, now: Date) throws(VerificationError) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.header[...],
              let signature = Self.decodeBase64URL(parts[2]), let payload = Self.decodeBase64URL(parts[1]) else {
            throw .malformed
        }
        let signingInput = Data((parts[0] + "." + parts[1]).utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else {
            throw .badSignature
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: payload) else { throw .malformed }
        let seconds = Int64(now.timeIntervalSince1970)
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard claims.aud == service else { throw .wrongAudience }
        guard seconds + leeway >= claims.nbf else { throw .notYetValid }
        guard seconds < claims.exp else { throw .expired }
        return claims
    }

    static func base64URL(_ data: Data) -> String {
        var text = data.base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
