@testable import Server
import Storage
import Testing

@Suite struct CacheConfigurationTests {
    func load(_ extra: String, environment: [String: String] = [:]) throws -> Configuration {
        try Configuration.load(yaml: ConfigurationTests.minimal + "\n" + extra, environment: environment)
    }

    @Test func nothingExpiresUnlessAsked() throws {
        // Distribution's proxy expires after 7 days by default; a mirror cut off from its
        // upstream must keep what it holds, so Wharf does not.
        let configuration = try load("proxy:\n  remoteurl: https://registry-1.docker.io\n")
        #expect(configuration.cacheRetention == CacheRetention())
        #expect(!configuration.cacheRetention.isEnabled)
    }

    @Test func mirrorCacheSetsSizeTTLAndInterval() throws {
        let configuration = try load("""
            mirror:
              cache:
                maxsize: 20GiB
                ttl: 336h
                interval: 30s
            """)
        #expect(configuration.cacheRetention.maxSize == 20 << 30)
        #expect(configuration.cacheRetention.ttl == .seconds(336 * 3600))
        #expect(configuration.cacheRetention.interval == .seconds(30))
    }

    @Test func proxyTTLIsDistributionsSpellingOfTheSameLimit() throws {
        let proxy = try load("proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 168h\n")
        #expect(proxy.cacheRetention.ttl == .seconds(168 * 3600))
        #expect(try load("proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 0\n").cacheRetention.ttl == nil)
        // mirror.cache.ttl wins when both are given
        let both = try load("proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 168h\nmirror:\n  cache:\n    ttl: 1h\n")
        #expect(both.cacheRetention.ttl == .seconds(3600))
    }

    @Test func environmentVariablesSetTheCache() throws {
        let configuration = try load("mirror:\n  default: docker.io\n", environment: [
            "REGISTRY_MIRROR_CACHE_MAXSIZE": "500MB", "REGISTRY_MIRROR_CACHE_TTL": "24h",
        ])
        #expect(configuration.cacheRetention.maxSize == 500_000_000)
        #expect(configuration.cacheRetention.ttl == .seconds(24 * 3600))
    }

    @Test(arguments: [
        ("1073741824", Int64(1 << 30)), ("500MB", 500_000_000), ("1.5GiB", 1_610_612_736), ("200Gi", 200 << 30),
        ("2T", 2_000_000_000_000), ("64 KiB", 65536), ("10b", 10),
    ])
    func sizesReadTheWayPeopleWriteThem(text: String, bytes: Int64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "GiB", "-1GB", "12 parsecs", "1e3", "9999999999TiB"])
    func nonsenseSizesAreRefused(text: String) throws {
        #expect(ByteSize.parse(text) == nil)
        #expect(throws: ConfigurationError.self) { try load("mirror:\n  cache:\n    maxsize: \"\(text)\"\n") }
    }

    @Test(arguments: [
        "mirror:\n  cache:\n    maxsize: 1GB\n    interval: 0s\n",
        "mirror:\n  cache:\n    maxsize: 1GB\n    interval: 60\n",      // 60 ns, not a minute
        "mirror:\n  cache:\n    ttl: 86400\n",                         // 86400 ns would empty the cache
        "proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 500ms\n",
        "mirror:\n  cache:\n    maxsize: 0\n",                         // would remove everything fetched
    ])
    func footgunsAreRefusedWithTheKeyNamed(yaml: String) {
        #expect(throws: ConfigurationError.self) { try load(yaml) }
    }

    @Test func aCacheSectionThatEnablesNothingIsWarnedAbout() throws {
        let configuration = try load("mirror:\n  cache:\n    interval: 5m\n")
        #expect(!configuration.cacheRetention.isEnabled)
        #expect(configuration.warnings.contains { $0.hasPrefix("mirror.cache:") })
    }
}
