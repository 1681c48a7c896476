import Crypto
import Foundation
@testable import Server
import Testing

/// Tokens (sign, verify, expiry, tampering), scopes and repository patterns.
@Suite struct AuthTokenTests {
    static let key = SymmetricKey(data: Data("0123456789abcdef0123456789abcdef".utf8))
    static let authority = TokenAuthority(key: key, issuer: "wharf", service: "wharf", lifetime: .seconds(300))
    static let issuedAt = Date(timeIntervalSince1970: 1_800_000_000)
    static let pull = [TokenAuthority.Grant(type: "repository", name: "team/app", actions: ["pull"])]

    @Test func aTokenVerifiesWithinItsLifetime() throws {
        let (token, claims) = Self.authority.issue(subject: "alice", access: Self.pull, now: Self.issuedAt)
        #expect(claims.exp - claims.iat == 300)
        let verified = try Self.authority.verify(token, now: Self.issuedAt.addingTimeInterval(299))
        #expect(verified == claims)
        #expect(verified.sub == "alice")
        #expect(verified.allows(type: "repository", name: "team/app", action: "pull"))
        #expect(!verified.allows(type: "repository", name: "team/app", action: "push"))
        #expect(!verified.allows(type: "repository", name: "team/other", action: "pull"), "a token for A must not open B")
    }

    @Test func anExpiredTokenIsRefused() {
        let (token, _) = Self.authority.issue(subject: "alice", access: Self.pull, now: Self.issuedAt)
        #expect(throws: TokenAuthority.VerificationError.expired) {
            try Self.authority.verify(token, now: Self.issuedAt.addingTimeInterval(300))
        }
        #expect(throws: TokenAuthority.VerificationError.notYetValid) {
            try Self.authority.verify(token, now: Self.issuedAt.addingTimeInterval(-60))
        }
    }

    @Test func aTamperedTokenIsRefused() throws {
        let (token, _) = Self.authority.issue(subject: "alice", access: Self.pull, now: Self.issuedAt)
        let parts = token.split(separator: ".").map(String.init)
        // The same claims with push added, under the original signature.
        var claims = try JSONDecoder().decode(TokenAuthority.Claims.self, from: TokenAuthority.decodeBase64URL(parts[1][...])!)
        claims.access[0].actions.append("push")
        let forged = parts[0] + "." + TokenAuthority.base64URL(try JSONEncoder().encode(claims)) + "." + parts[2]
        let later = Self.issuedAt.addingTimeInterval(1)
        #expect(throws: TokenAuthority.VerificationError.badSignature) { try Self.authority.verify(forged, now: later) }
        // One flipped signature character, a missing part, and garbage. The first character of
        // the signature carries six bits of it; the last carries padding bits that decode to
        // nothing, so flipping it left the signature intact now and then.
        let signature = parts[2]
        let flippedSignature = (signature.first == "A" ? "B" : "A") + signature.dropFirst()
        let flipped = parts[0] + "." + parts[1] + "." + flippedSignature
        #expect(throws: TokenAuthority.VerificationError.badSignature) { try Self.authority.verify(flipped, now: later) }
        #expect(throws: TokenAuthority.VerificationError.malformed) { try Self.authority.verify(parts[0] + "." + parts[1], now: later) }
        #expect(throws: TokenAuthority.VerificationError.malformed) { try Self.authority.verify("not a token", now: later) }
        // Another key, another service.
        let other = TokenAuthority(key: SymmetricKey(size: .bits256), issuer: "wharf", service: "wharf", lifetime: .seconds(300))
        #expect(throws: TokenAuthority.VerificationError.badSignature) { try other.verify(token, now: later) }
        let elsewhere = TokenAuthority(key: Self.key, issuer: "wharf", service: "other", lifetime: .seconds(300))
        #expect(throws: TokenAuthority.VerificationError.wrongAudience) { try elsewhere.verify(token, now: later) }
    }

    @Test func aCachedTokenStillExpires() throws {
        let cache = VerifiedTokenCache(capacity: 2)
        var verifications = 0
        let verify = { (token: String) throws(TokenAuthority.VerificationError) -> TokenAuthority.Claims in
            verifications += 1
            return try Self.authority.verify(token, now: Self.issuedAt)
        }
        let (token, claims) = Self.authority.issue(subject: "alice", access: Self.pull, now: Self.issuedAt)
        #expect(try cache.claims(of: token, now: Self.issuedAt, verify: verify) == claims)
        #expect(try cache.claims(of: token, now: Self.issuedAt.addingTimeInterval(299), verify: verify) == claims)
        #expect(verifications == 1)
        #expect(throws: TokenAuthority.VerificationError.expired) {
            try cache.claims(of: token, now: Self.issuedAt.addingTimeInterval(300), verify: verify)
        }
        #expect(throws: TokenAuthority.VerificationError.badSignature) {
            try cache.claims(of: token + "x", now: Self.issuedAt, verify: verify)
        }
        // Full of live tokens: it starts again rather than grow.
        for subject in ["b", "c", "d"] {
            let (other, _) = Self.authority.issue(subject: subject, access: [], now: Self.issuedAt)
            _ = try cache.claims(of: other, now: Self.issuedAt, verify: verify)
        }
        #expect(try cache.claims(of: token, now: Self.issuedAt, verify: verify) == claims)
        #expect(verifications == 6)
    }

    @Test(arguments: [
        ("repository:team/app:pull,push", ResourceScope(type: "repository", name: "team/app", actions: ["pull", "push"])),
        ("repository:localhost:5000/app:pull", ResourceScope(type: "repository", name: "localhost:5000/app", actions: ["pull"])),
        ("repository(plugin):team/app:pull", ResourceScope(type: "repository", name: "team/app", actions: ["pull"])),
        ("registry:catalog:*", ResourceScope.catalog),
        ("repository:team/app:", ResourceScope(type: "repository", name: "team/app", actions: [])),
    ])
    func parsesScopes(text: String, expected: ResourceScope) {
        #expect(ResourceScope(text[...]) == expected)
    }

    @Test func refusesMalformedScopes() {
        for text in ["repository", "repository:team/app", ":team/app:pull", "repository::pull", "repository:a:PULL"] {
            #expect(ResourceScope(text[...]) == nil, "\(text)")
        }
        #expect(ResourceScope.parseList("repository:a:pull repository:b:push")?.map(\.name) == ["a", "b"])
        #expect(ResourceScope.parseList("repository:a:pull junk") == nil)
    }

    @Test func aHostWithAPortIsSpelledAsRoutesSpellIt() {
        #expect(ResourceScope.routeName("localhost:5000/team/app") == "localhost_5000/team/app")
        #expect(ResourceScope.routeName("team/app") == "team/app")
    }

    @Test(arguments: [
        ("team/*", "team/app", true), ("team/*", "team/app/base", false), ("team/*", "team", false),
        ("team/**", "team/app/base", true), ("team/**", "teammate/app", false), ("**", "any/thing/at/all", true),
        ("*/app", "team/app", true), ("*/app", "a/b/app", false), ("**/app", "a/b/app", true),
        ("lib-*/x", "lib-core/x", true), ("library/alpine", "library/alpine", true), ("library/alpine", "library/alpine2", false),
    ])
    func matchesRepositoryPatterns(pattern: String, name: String, expected: Bool) throws {
        #expect(try #require(RepositoryPattern(pattern)).matches(name) == expected)
    }

    @Test func refusesPatternsNoNameCouldMatch() {
        for text in ["", "Team/*", "team/app:v1", "team app"] { #expect(RepositoryPattern(text) == nil, "\(text)") }
    }

    static let policy = AccessPolicy(
        rules: [
            .init(repositories: [RepositoryPattern("team/**")!], readers: ["bob"], writers: ["alice"]),
            .init(repositories: [RepositoryPattern("shared/*")!], readers: ["*"]),
        ],
        anonymousPull: [RepositoryPattern("public/**")!])

    @Test func rulesGrantReadAndWritePerUserAndPattern() {
        let policy = Self.policy
        #expect(policy.actions(for: "alice", on: "team/app") == [.pull, .push, .delete])
        #expect(policy.actions(for: "bob", on: "team/app/base") == [.pull])
        #expect(policy.actions(for: "bob", on: "shared/x") == [.pull])
        #expect(policy.actions(for: "carol", on: "shared/x") == [.pull], "\"*\" is any authenticated user")
        #expect(policy.actions(for: "carol", on: "team/app").isEmpty)
        #expect(policy.actions(for: "alice", on: "other/app").isEmpty)
        #expect(policy.actions(for: nil, on: "public/base") == [.pull])
        #expect(policy.actions(for: nil, on: "shared/x").isEmpty, "\"*\" does not include anonymous clients")
        #expect(policy.actions(for: "carol", on: "public/base") == [.pull])
    }

    @Test func withoutRulesEveryUserMayDoEverything() {
        let open = AccessPolicy()
        #expect(open.actions(for: "anyone", on: "a/b") == [.pull, .push, .delete])
        #expect(open.actions(for: nil, on: "a/b").isEmpty)
        #expect(!open.mayListCatalog(nil))
        #expect(open.mayListCatalog("anyone"))
    }
}
