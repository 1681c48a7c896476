import Foundation
import Testing
import UpstreamTestSupport

/// libcurl reads `http_proxy`/`https_proxy`/`no_proxy` from the environment; HTTPClient never sets
/// CURLOPT_PROXY, so they apply. Checked in a child process (the environment is process-wide):
/// Benchmarks' UpstreamClientBench downloads through HTTPClient.
@Suite("proxy environment", .timeLimit(.minutes(1)))
struct ProxyEnvironmentTests {
    static let bench = FixtureProcess.scriptsDirectory
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/UpstreamClientBench").path

    func download(_ url: String, to out: String, environment: [String: String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.bench)
        p.arguments = [url, out]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }
        env.merge(environment) { $1 }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ProxyEnvironmentTests.bench)))
    func httpProxyIsUsedAndNoProxyBypassesIt() throws {
        let proxy = try FixtureProcess("http_fixture.py")
        defer { proxy.stop() }
        let dir = TemporaryDirectory()
        // 127.0.0.2:9 has no server: only the proxy (the fixture, which serves absolute-form
        // request targets too) can answer.
        let target = "http://127.0.0.2:9/bytes/1000"
        let viaProxy = try download(target, to: dir.file("a"), environment: ["http_proxy": "http://127.0.0.1:\(proxy.int("port"))"])
        #expect(viaProxy == 0)
        #expect((try? Data(contentsOf: URL(fileURLWithPath: dir.file("a"))))?.count == 1000)
        let bypassed = try download(target, to: dir.file("b"),
                                    environment: ["http_proxy": "http://127.0.0.1:\(proxy.int("port"))", "no_proxy": "127.0.0.2"])
        #expect(bypassed != 0)
    }
}
