@testable import Server
import Testing

@Suite struct FillBoundsConfigurationTests {
    func load(_ mirror: String) throws -> Configuration {
        try Configuration.load(yaml: ConfigurationTests.minimal + "\nmirror:\n" + mirror, environment: [:])
    }

    @Test func defaultsBoundEveryFill() throws {
        let settings = try #require(try load("  default: docker.io\n").mirrorConfiguration)
        #expect(settings.maxFillsPerRegistry == 8)
        #expect(settings.maxStagingBytes == 32 << 30)
        #expect(settings.fillTimeout == .seconds(3600))
        #expect(settings.fillMinRate == 1024)
        #expect(settings.fillMinRateWindow == .seconds(30))
    }

    @Test func readsTheFillBounds() throws {
        let settings = try #require(try load("""
              default: docker.io
              maxfillsperregistry: 3
              maxstagingbytes: 2GiB
              fill:
                timeout: 20m
                minrate: 10KB
                minratewindow: 15s
            """).mirrorConfiguration)
        #expect(settings.maxFillsPerRegistry == 3)
        #expect(settings.maxStagingBytes == 2 << 30)
        #expect(settings.fillTimeout == .seconds(1200))
        #expect(settings.fillMinRate == 10_000)
        #expect(settings.fillMinRateWindow == .seconds(15))
    }

    @Test(arguments: [
        ("  maxfillsperregistry: 0\n", "mirror.maxfillsperregistry"),
        ("  maxstagingbytes: 1000\n", "mirror.maxstagingbytes"),
        ("  fill:\n    timeout: 500\n", "mirror.fill.timeout"),
        ("  fill:\n    minrate: 1T\n", "mirror.fill.minrate"),
        ("  fill:\n    minratewindow: 2h\n", "mirror.fill.minratewindow"),
        ("  fill:\n    deadline: 1m\n", "deadline"),
    ])
    func refusesBoundsThatCannotWork(text: String, key: String) throws {
        #expect { try load(text) } throws: { error in "\(error)".contains(key) }
    }
}
