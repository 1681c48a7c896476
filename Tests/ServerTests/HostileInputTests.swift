@testable import Server
import Testing

/// Numbers a client or a configuration file sends are checked, never trapped on.
@Suite struct HostileInputTests {
    static let minimal = """
        version: 0.1
        http:
          addr: 127.0.0.1:6000
        storage:
          filesystem:
            rootdirectory: /tmp/store
        """

    /// The error for the minimal file plus `yaml` (or for `yaml` alone when it has its own `storage:`).
    func message(_ yaml: String) -> String? {
        let text = yaml.contains("storage:") ? "version: 0.1\n" + yaml : Self.minimal + "\n" + yaml
        do {
            _ = try Configuration.load(yaml: text, environment: [:])
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        ("bytes=0-9223372036854775807", 100, ByteRange.Outcome.partial(ByteRange(start: 0, end: 99))),
        ("bytes=0-99999999999999999999999", 100, .partial(ByteRange(start: 0, end: 99))),
        ("bytes=-9223372036854775807", 100, .partial(ByteRange(start: 0, end: 99))),
        ("bytes=-99999999999999999999999", 100, .partial(ByteRange(start: 0, end: 99))),
        ("bytes=9223372036854775807-", 100, .unsatisfiable),
        ("bytes=99999999999999999999999-", 100, .unsatisfiable),
        ("bytes=9223372036854775806-9223372036854775807", Int64.max, .partial(ByteRange(start: Int64.max - 1, end: Int64.max - 1))),
        ("bytes=-1", Int64.max, .partial(ByteRange(start: Int64.max - 1, end: Int64.max - 1))),
        ("bytes=-", 100, .unsatisfiable),
        ("bytes=+1-2", 100, .unsatisfiable),
        ("bytes=-5", 0, .unsatisfiable),
    ] as [(String?, Int64, ByteRange.Outcome)])
    func rangesNearInt64MaxResolveWithoutTrapping(header: String?, size: Int64, expected: ByteRange.Outcome) {
        let outcome = ByteRange.resolve(header, size: size)
        #expect(outcome == expected)
        if case .partial(let range) = outcome { #expect(range.length >= 1) }
    }

    @Test(arguments: ["3000000000h", "9999999999999999999999999s", "2562048h", "1e400h"])
    func overflowingDurationsAreErrorsNamingTheKey(ttl: String) {
        let error = message("mirror:\n  cache:\n    ttl: \(ttl)")
        #expect(error?.contains("mirror.cache.ttl") == true, "\(error ?? "accepted")")
    }

    @Test func theLargestGoDurationIsAccepted() throws {
        #expect(GoDuration.parse("2562047h") == .seconds(2562047 * 3600))
        #expect(GoDuration.parse("2562048h") == nil)
    }

    @Test(arguments: ["99999999999999999999999", "9000000T", "1e30"])
    func overflowingSizesAndIntegersAreErrorsNamingTheKey(size: String) {
        let error = message("mirror:\n  cache:\n    maxsize: \(size)")
        #expect(error?.contains("mirror.cache.maxsize") == true, "\(error ?? "accepted")")
        let integer = message("catalog:\n  maxentries: \(size)")
        #expect(integer?.contains("catalog.maxentries") == true, "\(integer ?? "accepted")")
    }

    @Test func uploadPurgingDefaultsAreDistributions() throws {
        let configuration = try Configuration.load(yaml: Self.minimal, environment: [:])
        #expect(configuration.storage.uploadPurging == UploadPurging())
        #expect(UploadPurging().enabled && !UploadPurging().dryRun)
        #expect(UploadPurging().age == .seconds(168 * 3600) && UploadPurging().interval == .seconds(24 * 3600))
    }

    @Test func uploadPurgingIsRead() throws {
        let configuration = try Configuration.load(yaml: Self.minimal + """

              maintenance:
                uploadpurging:
                  enabled: true
                  age: 2h
                  interval: 90s
                  dryrun: true
            """, environment: [:])
        #expect(configuration.storage.uploadPurging.age == .seconds(7200))
        #expect(configuration.storage.uploadPurging.interval == .seconds(90))
        #expect(configuration.storage.uploadPurging.dryRun)
        #expect(message("storage:\n  filesystem:\n    rootdirectory: /tmp/s\n  maintenance:\n    uploadpurging:\n      interval: 100")?
            .contains("storage.maintenance.uploadpurging.interval") == true)
    }

    @Test(arguments: [
        ("storage:\n  filesystem:\n    rootdirectory: /tmp/s\nhttp:\n  addr: :6000\n  tls:\n    letsencrypt:\n      email: a@b.c", "http.tls.letsencrypt"),
        ("storage:\n  filesystem:\n    rootdirectory: /tmp/s\nhttp:\n  addr: :6000\n  tls:\n    certificate: /c\n    key: /k\n    ciphersuites: [TLS_AES_128_GCM_SHA256]",
         "http.tls.ciphersuites"),
        ("log:\n  hooks:\n    - type: mail", "log.hooks"),
        ("proxy:\n  remoteurl: https://registry-1.docker.io\n  exec:\n    command: helper", "proxy.exec"),
        ("validation:\n  manifests:\n    urls:\n      allow: ['^https://']", "validation.manifests"),
    ])
    func keysWharfWouldNotHonourStopStartUp(snippet: String, key: String) {
        let error = message(snippet)
        #expect(error?.contains(key) == true, "\(error ?? "accepted")")
    }

    @Test func harmlessValidationSwitchIsAccepted() throws {
        _ = try Configuration.load(yaml: Self.minimal + "\nvalidation:\n  disabled: false", environment: [:])
    }
}
