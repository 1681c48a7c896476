import Foundation
import Testing
import Upstream

@Suite struct TokenCacheTests {
    let key = TokenCache.Key(registry: "registry.example", scope: "repository:a/b:pull")
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func validUntilShortlyBeforeExpiry() {
        var cache = TokenCache()
        cache.store("tok", for: key, issuedAt: nil, expiresIn: 300, now: t0)
        #expect(cache.token(for: key, now: t0) == "tok")
        #expect(cache.token(for: key, now: t0 + 289) == "tok")
        #expect(cache.token(for: key, now: t0 + 291) == nil)  // 10 s margin
    }

    @Test func defaultLifetimeIsSixtySeconds() {
        var cache = TokenCache()
        cache.store("tok", for: key, issuedAt: nil, expiresIn: nil, now: t0)
        #expect(cache.token(for: key, now: t0 + 49) == "tok")
        #expect(cache.token(for: key, now: t0 + 51) == nil)
    }

    @Test func issuedAtCountsFromTheTokenServer() {
        var cache = TokenCache()
        // Issued 100 s before we received it: 200 s of its 300 are left.
        cache.store("tok", for: key, issuedAt: t0 - 100, expiresIn: 300, now: t0)
        #expect(cache.token(for: key, now: t0 + 189) == "tok")
        #expect(cache.token(for: key, now: t0 + 191) == nil)
        // A token server clock ahead of ours never extends the life.
        cache.store("tok2", for: key, issuedAt: t0 + 1000, expiresIn: 60, now: t0)
        #expect(cache.token(for: key, now: t0 + 51) == nil)
    }

    @Test func scopesAndRegistriesAreSeparate() {
        var cache = TokenCache()
        cache.store("tok", for: key, issuedAt: nil, expiresIn: 300, now: t0)
        #expect(cache.token(for: TokenCache.Key(registry: "registry.example", scope: "repository:a/c:pull"), now: t0) == nil)
        #expect(cache.token(for: TokenCache.Key(registry: "other.example", scope: key.scope), now: t0) == nil)
        cache.invalidate(key)
        #expect(cache.token(for: key, now: t0) == nil)
    }
}
