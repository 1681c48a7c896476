import Foundation
import HTTPClient
import OCI
import Testing
import Upstream
import UpstreamTestSupport

/// Starts a `docker-registry` flavour (see Tests/IntegrationTests/upstream/upstream_registry.py).
struct RegistryFixture {
    let process: FixtureProcess
    let dir: TemporaryDirectory

    init(_ flavour: String) throws {
        dir = TemporaryDirectory()
        process = try FixtureProcess("upstream_registry.py", [flavour, dir.path])
    }

    var registry: String { process.string("registry") }
    var repository: RepositoryName { RepositoryName(process.string("repository"))! }
    var tag: OCI.Tag { OCI.Tag(process.string("tag"))! }
    var manifestDigest: Digest { Digest(process.string("manifest_digest"))! }
    var layerDigest: Digest { Digest(process.string("layer_digest"))! }
    var layerSize: Int { process.int("layer_size") }
    var layer: Data { (try? Data(contentsOf: URL(fileURLWithPath: process.string("layer_path")))) ?? Data() }
    var certsDirectory: String? { process.info["certs_dir"] as? String }
    var credentials: Credentials? {
        (process.info["username"] as? String).map { Credentials(username: $0, password: process.string("password")) }
    }
    /// Requests the token server has seen (the fixture logs one JSON line per request).
    var tokenRequests: Int {
        guard let path = process.info["token_log"] as? String, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").count
    }

    func stop() { process.stop() }
}

@Suite("Upstream against docker-registry", .timeLimit(.minutes(3)))
struct RegistryIntegrationTests {
    @Test(arguments: ["http", "tls-basic", "token"])
    func manifestsAndBlobsByTagDigestAndRange(flavour: String) async throws {
        let upstream = try RegistryFixture(flavour)
        defer { upstream.stop() }
        let http = try HTTPClient(configuration: .init(certsDirectory: upstream.certsDirectory))
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry, credentials: upstream.credentials), http: http)

        let endpoint = try await client.ping()
        #expect(endpoint.baseURL.hasPrefix(flavour == "tls-basic" ? "https://" : "http://"))
        if flavour == "tls-basic" { #expect(endpoint.httpVersion == "2") }  // HTTP/2 where offered (ALPN)

        // Manifest by tag, then by digest; HEAD agrees.
        let byTag = try await client.manifest(upstream.repository, .tag(upstream.tag))
        #expect(byTag.digest == upstream.manifestDigest)
        #expect(byTag.headerDigest == upstream.manifestDigest)
        #expect(byTag.mediaType == MediaType.ociManifest)
        let byDigest = try await client.manifest(upstream.repository, .digest(upstream.manifestDigest))
        #expect(byDigest.body == byTag.body)
        let head = try await client.headManifest(upstream.repository, .tag(upstream.tag))
        #expect(head.digest == upstream.manifestDigest)
        #expect(head.size == Int64(byTag.size))

        // Blob in full: written, hashed, verified.
        let dir = TemporaryDirectory()
        let fd = open(dir.file("layer"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let full = try await client.blob(upstream.repository, upstream.layerDigest, to: fd)
        #expect(full.status == 200)
        #expect(full.bytesWritten == Int64(upstream.layerSize))
        #expect(full.computedDigest == upstream.layerDigest)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("layer"))) == upstream.layer)

        // Blob by range, several at once (one scope: still one token).
        let layer = upstream.layer
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let start = Int64(i * 100_000 + 7), end = start + 65_535
                    let path = dir.file("range-\(i)")
                    let rfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
                    defer { close(rfd) }
                    let part = try await client.blob(upstream.repository, upstream.layerDigest, range: (start, end), to: rfd)
                    #expect(part.status == 206)
                    #expect(part.totalSize == Int64(upstream.layerSize))
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                    #expect(bytes == layer[Int(start)...Int(end)])
                }
            }
            try await group.waitForAll()
        }
        let blobHead = try await client.headBlob(upstream.repository, upstream.layerDigest)
        #expect(blobHead.size == Int64(upstream.layerSize))
        #expect(blobHead.digest == upstream.layerDigest)

        if flavour == "token" {
            // 2 manifests + 1 manifest HEAD + 9 blob GETs + 1 blob HEAD of one scope: one token request.
            #expect(await client.tokenRequests == 1)
            #expect(upstream.tokenRequests == 1)
        }
    }

    @Test func streamedBlobThroughTokenAuth() async throws {
        let upstream = try RegistryFixture("token")
        defer { upstream.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry, credentials: upstream.credentials), http: http)
        let (info, body) = try await client.streamBlob(upstream.repository, upstream.layerDigest, bufferLimit: 64 * 1024)
        #expect(info.status == 200)
        var hasher = DigestHasher(algorithm: .sha256)
        for try await chunk in body { hasher.update(chunk) }
        #expect(hasher.finalize() == upstream.layerDigest)
    }

    @Test func missingBlobAndWrongDigestAreNotFound() async throws {
        let upstream = try RegistryFixture("http")
        defer { upstream.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry), http: http)
        let absent = Digest("sha256:" + String(repeating: "0", count: 64))!
        await #expect(throws: UpstreamError.self) { try await client.headBlob(upstream.repository, absent) }
        do {
            _ = try await client.manifest(upstream.repository, .tag(OCI.Tag("nope")!))
            Issue.record("expected notFound")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.registryCodes.contains("MANIFEST_UNKNOWN"))
            #expect(error.description.contains(upstream.registry))
        }
        #expect(try await client.repositoryExists(upstream.repository))
        #expect(try await !client.repositoryExists(RepositoryName("no/such")!))
    }
}

@Suite("check-upstream diagnoses", .timeLimit(.minutes(3)))
struct CheckUpstreamTests {
    @Test func succeedsOnEveryFlavour() async throws {
        for flavour in ["http", "tls-basic", "token"] {
            let upstream = try RegistryFixture(flavour)
            defer { upstream.stop() }
            let target = UpstreamTarget(parsing: "\(upstream.registry)/\(upstream.repository):\(upstream.tag)")!
            let report = await checkUpstream(target, options: CheckOptions(caDirectory: upstream.certsDirectory, credentials: upstream.credentials))
            #expect(report.succeeded, Comment(rawValue: "\(flavour): \(report.steps)"))
            #expect(report.steps.last?.detail.contains(upstream.manifestDigest.description) == true)
            #expect(report.steps.last?.detail.contains(MediaType.ociManifest) == true)
            if flavour == "token" {
                #expect(report.steps.contains { $0.name == "token" && $0.outcome == CheckStep.Outcome.ok })
                // The token is never shown.
                #expect(!report.steps.contains { $0.detail.contains("eyJ") })
            }
        }
    }

    @Test func untrustedCertificateNamesTheCADirectorySearched() async throws {
        let upstream = try RegistryFixture("tls-basic")
        defer { upstream.stop() }
        let empty = TemporaryDirectory()
        let target = UpstreamTarget(parsing: "\(upstream.registry)/\(upstream.repository):\(upstream.tag)")!
        let report = await checkUpstream(target, options: CheckOptions(caDirectory: empty.path, credentials: upstream.credentials))
        #expect(report.failedStep == "connect")
        #expect(report.failure?.code == .tls)
        let message = report.failure?.message ?? ""
        #expect(message.contains("not trusted"))
        #expect(message.contains("\(empty.path)/\(upstream.registry)"))
        #expect(message.contains("none found"))
    }

    @Test func insecureRegistryIsReachedOverHTTPSWithoutVerification() async throws {
        let upstream = try RegistryFixture("tls-basic")
        defer { upstream.stop() }
        let target = UpstreamTarget(parsing: "\(upstream.registry)/\(upstream.repository):\(upstream.tag)")!
        let report = await checkUpstream(target, options: CheckOptions(caDirectory: nil, credentials: upstream.credentials, insecure: true))
        #expect(report.succeeded)
        #expect(report.steps.contains { $0.name == "connect" && $0.detail.hasPrefix("GET https://") })
    }

    @Test func wrongPasswordWithBasicAndWithTokens() async throws {
        for flavour in ["tls-basic", "token"] {
            let upstream = try RegistryFixture(flavour)
            defer { upstream.stop() }
            let target = UpstreamTarget(parsing: "\(upstream.registry)/\(upstream.repository):\(upstream.tag)")!
            let wrong = Credentials(username: upstream.credentials!.username, password: "wrong")
            let report = await checkUpstream(target, options: CheckOptions(caDirectory: upstream.certsDirectory, credentials: wrong))
            #expect(report.failedStep == (flavour == "token" ? "token" : "manifest"))
            #expect(report.failure?.code == .unauthorized)
            #expect(report.failure?.message.contains("wrong credentials") == true)
            #expect(report.failure?.message.contains("wrong") == true && report.failure?.message.contains("user \(wrong.username)") == true)
        }
    }

    @Test func missingRepository() async throws {
        let upstream = try RegistryFixture("token")
        defer { upstream.stop() }
        let target = UpstreamTarget(parsing: "\(upstream.registry)/no/such-repo:v1")!
        let report = await checkUpstream(target, options: CheckOptions(credentials: upstream.credentials))
        #expect(report.failedStep == "manifest")
        #expect(report.failure?.code == .notFound)
        #expect(report.failure?.message.contains("repository no/such-repo not found") == true)
    }
}

@Suite("token single flight", .timeLimit(.minutes(2)))
struct TokenSingleFlightTests {
    @Test func concurrentFirstRequestsShareOneTokenRequest() async throws {
        let upstream = try RegistryFixture("token")
        defer { upstream.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry, credentials: upstream.credentials), http: http)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    let info = try await client.headBlob(upstream.repository, upstream.layerDigest)
                    #expect(info.size == Int64(upstream.layerSize))
                }
            }
            try await group.waitForAll()
        }
        #expect(upstream.tokenRequests == 1)
    }
}

@Suite("digest verification", .timeLimit(.minutes(2)))
struct DigestVerificationTests {
    @Test func corruptBlobUpstreamIsADigestMismatch() async throws {
        let upstream = try RegistryFixture("http")
        defer { upstream.stop() }
        // Flip one byte of the blob in the registry's own storage: it serves the bytes as they are.
        let hex = upstream.layerDigest.encoded
        let path = "\(upstream.dir.path)/storage/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[1000] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))

        let http = try HTTPClient()
        defer { http.shutdown() }
        let client = RegistryClient(configuration: RegistryClientConfiguration(registry: upstream.registry), http: http)
        let dir = TemporaryDirectory()
        let fd = open(dir.file("layer"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        do {
            _ = try await client.blob(upstream.repository, upstream.layerDigest, to: fd)
            Issue.record("a corrupt blob passed verification")
        } catch {
            #expect(error.code == .digestMismatch)
        }
    }
}
