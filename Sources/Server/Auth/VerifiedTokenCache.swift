import Foundation
import Synchronization

/// Tokens already verified, with their claims, until they expire: a pull sends the same
/// token on every request, and decoding its JSON each time cost more than serving a small blob.
///
/// Bounded: at `capacity` entries, expired ones are dropped, and if none are, all are.
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: TokenAuthority.Claims]>([:])
    let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The claims of `token`, verified by `verify` or earlier, if it is still valid at `now`.
    func claims(of token: String, now: Date,
                verify: (String) throws(TokenAuthority.VerificationError) -> TokenAuthority.Claims)
        throws(TokenAuthority.VerificationError) -> TokenAuthority.Claims {
        let seconds = Int64(now.timeIntervalSince1970)
        if let claims = entries.withLock({ $0[token] }) {
            guard seconds < claims.exp else { throw .expired }
            return claims
        }
        let claims = try verify(token)
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { seconds < $0.value.exp }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = claims
        }
        return claims
    }
}
