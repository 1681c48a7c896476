// Wharf's bearer tokens (TokenAuthority.verify, through VerifiedTokenCache as the server
// calls it) and the `Authorization` header around them (AccessControl's splitting and Basic
// decoding). Input: a header value or token; or, when it starts with `{`, a claims payload
// that the target signs with the authority's key first, so the claims decoding and checks
// behind the signature are reached too.
//
// Asserts: a verified token's claims are for this issuer and service and valid now; a token
// the authority issues verifies to the claims it was issued with.
import Crypto
import Foundation
@testable import Server

private let authority = TokenAuthority(key: SymmetricKey(data: Array("wharf-fuzz-signing-key-0123456789".utf8)),
                                       issuer: "wharf", service: "wharf.example", lifetime: .seconds(300))
/// Fixed, so a run is reproducible: 2027-01-15. The seeds' tokens are valid until 2100.
private let now = Date(timeIntervalSince1970: 1_800_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let token: String
    if bytes.first == UInt8(ascii: "{") {
        token = signed(payload: bytes)
    } else {
        let (scheme, value) = AccessControl.splitAuthorization(text)
        precondition(scheme == scheme.lowercased(), "scheme \(scheme) not lowercased")
        if let (user, password) = AccessControl.basicCredentials(value) {
            precondition(!user.contains(":"), "user \(user) contains the separator")
            _ = password
        }
        token = scheme == "bearer" ? value : text
    }
    // A fresh cache each time: a shared one would make runs depend on earlier inputs.
    let cache = VerifiedTokenCache(capacity: 4)
    if let claims = try? cache.claims(of: token, now: now, verify: { token throws(TokenAuthority.VerificationError) in
        try authority.verify(token, now: now)
    }) {
        let seconds = Int64(now.timeIntervalSince1970)
        precondition(claims.iss == authority.issuer && claims.aud == authority.service, "claims for \(claims.iss)/\(claims.aud)")
        precondition(seconds < claims.exp && seconds + authority.leeway >= claims.nbf, "claims outside their validity")
        _ = claims.allows(type: "repository", name: "library/alpine", action: "pull")
    }

    // Issuing for a user name from the wire round-trips.
    let issued = authority.issue(subject: text, access: [.init(type: "repository", name: text, actions: ["pull"])], now: now)
    precondition((try? authority.verify(issued.token, now: now)) == issued.claims, "an issued token does not verify to its claims")
    return 0
}

private func signed(payload: [UInt8]) -> String {
    let header = TokenAuthority.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
    let input = header + "." + TokenAuthority.base64URL(Data(payload))
    let signature = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: authority.key)
    return input + "." + TokenAuthority.base64URL(Data(signature))
}
