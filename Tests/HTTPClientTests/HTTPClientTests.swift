import Foundation
import HTTPClient
import OCI
import Testing
import UpstreamTestSupport

/// The byte at offset `i` of the fixture's `/bytes/N` bodies.
func patternByte(_ i: Int) -> UInt8 { UInt8(i % 251) }

func patternDigest(count: Int) -> String {
    var hasher = DigestHasher(algorithm: .sha256)
    var block = [UInt8](repeating: 0, count: 251 * 256)
    for i in 0..<block.count { block[i] = patternByte(i) }
    var remaining = count
    while remaining > 0 {
        let n = min(remaining, block.count)
        block.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        remaining -= n
    }
    return hasher.finalize().description
}

@Suite("HTTPClient against a loopback HTTP server", .timeLimit(.minutes(2)))
struct HTTPClientTests {
    let server: FixtureProcess
    let client: HTTPClient
    var base: String { "http://127.0.0.1:\(server.int("port"))" }

    init() throws {
        server = try FixtureProcess("http_fixture.py")
        client = try HTTPClient()
    }

    @Test func collectsABodyAndReusesTheConnection() async throws {
        let first = try await client.execute(HTTPRequest(.get, url: base + "/bytes/1000"))
        #expect(first.status == 200)
        #expect(first.body == (0..<1000).map(patternByte))
        let second = try await client.execute(HTTPRequest(.get, url: base + "/bytes/10"))
        #expect(second.head.headers["X-Connection-Requests"] == "2")
        client.shutdown()
        server.stop()
    }

    @Test func rangeRequestsGetPartialContent() async throws {
        var request = HTTPRequest(.get, url: base + "/bytes/100000")
        request.range = (1000, 1999)
        let response = try await client.execute(request)
        #expect(response.status == 206)
        #expect(response.head.headers["Content-Range"] == "bytes 1000-1999/100000")
        #expect(response.body == (1000..<2000).map(patternByte))
        var open = HTTPRequest(.get, url: base + "/bytes/5000")
        open.range = (4990, nil)
        let tail = try await client.execute(open)
        #expect(tail.body == (4990..<5000).map(patternByte))
        client.shutdown()
        server.stop()
    }

    @Test func errorStatusesAreResponsesWithTheirBody() async throws {
        let response = try await client.execute(HTTPRequest(.get, url: base + "/status/404"))
        #expect(response.status == 404)
        #expect(String(decoding: response.body, as: UTF8.self).contains("TEST"))
        client.shutdown()
        server.stop()
    }

    @Test func redirectToAnotherHostDropsAuthorization() async throws {
        let port = server.int("port")
        // Same host: Authorization survives.
        var same = HTTPRequest(.get, url: base + "/redirect?to=/headers")
        same.headers.set("Authorization", "Bearer secret")
        let sameResponse = try await client.execute(same)
        let sameHeaders = try JSONSerialization.jsonObject(with: Data(sameResponse.body)) as? [String: String]
        #expect(sameHeaders?["Authorization"] == "Bearer secret")
        // Another host name (localhost is another host than 127.0.0.1): Authorization is dropped.
        var other = HTTPRequest(.get, url: base + "/redirect?to=http://localhost:\(port)/headers")
        other.headers.set("Authorization", "Bearer secret")
        other.headers.set("X-Kept", "yes")
        let otherResponse = try await client.execute(other)
        #expect(otherResponse.head.url == "http://localhost:\(port)/headers")
        let otherHeaders = try JSONSerialization.jsonObject(with: Data(otherResponse.body)) as? [String: String]
        #expect(otherHeaders?["Authorization"] == nil)
        #expect(otherHeaders?["X-Kept"] == "yes")
        client.shutdown()
        server.stop()
    }

    @Test func postSendsItsBodyByteExactWithItsHeaders() async throws {
        struct Echo: Decodable {
            var method: String
            var headers: [String: String]
            var body: String
        }
        // Binary, with NUL bytes, and larger than curl's `Expect: 100-continue` threshold.
        let body = (0..<(2 * 1024 * 1024 + 3)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var request = HTTPRequest(.post, url: base + "/echo", body: body)
        request.headers.set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
        request.headers.add("X-Token", "secret")
        let response = try await client.execute(request)
        #expect(response.status == 200)
        let echo = try JSONDecoder().decode(Echo.self, from: Data(response.body))
        #expect(echo.method == "POST")
        #expect(echo.headers["Content-Type"] == "application/vnd.docker.distribution.events.v1+json")
        #expect(echo.headers["X-Token"] == "secret")
        #expect(echo.headers["Content-Length"] == String(body.count))
        #expect(echo.headers["Expect"] == nil)
        #expect(Data(base64Encoded: echo.body) == Data(body))

        // An empty body is a POST with Content-Length: 0.
        let empty = try await client.execute(HTTPRequest(.post, url: base + "/echo", body: []))
        let emptyEcho = try JSONDecoder().decode(Echo.self, from: Data(empty.body))
        #expect(emptyEcho.method == "POST" && emptyEcho.headers["Content-Length"] == "0" && emptyEcho.body.isEmpty)

        // 307 sends the POST again with its body; 303 turns it into a GET without one.
        let kept = try await client.execute(HTTPRequest(.post, url: base + "/redirect?to=/echo&code=307", body: Array("hi".utf8)))
        let keptEcho = try JSONDecoder().decode(Echo.self, from: Data(kept.body))
        #expect(keptEcho.method == "POST" && Data(base64Encoded: keptEcho.body) == Data("hi".utf8))
        let seeOther = try await client.execute(HTTPRequest(.post, url: base + "/redirect?to=/headers&code=303", body: Array("hi".utf8)))
        let seeOtherHeaders = try JSONSerialization.jsonObject(with: Data(seeOther.body)) as? [String: String]
        #expect(seeOther.status == 200 && seeOtherHeaders?["Content-Length"] == nil)
        client.shutdown()
        server.stop()
    }

    @Test(arguments: [HTTPClient.HashPlacement.pipelined, .loopThread])
    func fileSinkWritesAndHashes(placement: HTTPClient.HashPlacement) async throws {
        let dir = TemporaryDirectory()
        let fd = open(dir.file("body"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let count = 5 * 1024 * 1024 + 17
        let result = try await client.download(HTTPRequest(.get, url: base + "/bytes/\(count)"), to: fd, placement: placement)
        #expect(result.head.status == 200)
        #expect(result.bytesWritten == Int64(count))
        #expect(result.digest == patternDigest(count: count))
        let written = try Data(contentsOf: URL(fileURLWithPath: dir.file("body")))
        #expect(written.count == count)
        #expect(written.prefix(600).elementsEqual((0..<600).map(patternByte)))
        // A non-2xx body never reaches the file.
        let missing = try await client.download(HTTPRequest(.get, url: base + "/status/404"), to: fd, placement: placement)
        #expect(missing.head.status == 404 && missing.bytesWritten == 0 && missing.digest == nil)
        #expect(!missing.errorBody.isEmpty)
        client.shutdown()
        server.stop()
    }

    @Test func slowConsumerPausesTheTransferAndItResumes() async throws {
        let count = 48 * 1024 * 1024
        let limit = 256 * 1024
        let response = try await client.stream(HTTPRequest(.get, url: base + "/bytes/\(count)"), bufferLimit: limit)
        #expect(response.head.status == 200)
        var received = 0
        var hasher = DigestHasher(algorithm: .sha256)
        var chunks = 0
        for try await chunk in response.body {
            received += chunk.count
            hasher.update(chunk)
            chunks += 1
            // Slow for a while, then catch up.
            if chunks < 40 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(received == count)
        #expect(hasher.finalize().description == patternDigest(count: count))
        #expect(response.body.pauseCount > 0, "the transfer never paused")
        // Bounded: the limit plus at most one libcurl callback (16 KiB).
        #expect(response.body.maxBufferedBytes <= limit + 16 * 1024)
        client.shutdown()
        server.stop()
    }

    @Test func aPausedTransferIsNotALowSpeedTimeout() async throws {
        var request = HTTPRequest(.get, url: base + "/bytes/\(8 * 1024 * 1024)")
        request.timeouts = HTTPTimeouts(connect: .seconds(5), lowSpeedLimit: 1000, lowSpeedTime: .seconds(1))
        let response = try await client.stream(request, bufferLimit: 64 * 1024)
        var received = 0
        for try await chunk in response.body {
            if received == 0 { try await Task.sleep(for: .seconds(3)) }  // paused far longer than lowSpeedTime
            received += chunk.count
        }
        #expect(received == 8 * 1024 * 1024)
        #expect(response.body.pauseCount > 0)
        client.shutdown()
        server.stop()
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let dir = TemporaryDirectory()
        let fd = open(dir.file("body"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let client = self.client
        let url = base + "/bytes/\(8 * 1024 * 1024 * 1024)"
        let task = Task { try await client.stream(HTTPRequest(.get, url: url), bufferLimit: 64 * 1024) }
        let streaming = try await task.value
        let download = Task { try await client.download(HTTPRequest(.get, url: url), to: fd, hashing: nil) }
        try await Task.sleep(for: .milliseconds(300))
        download.cancel()
        let started = ContinuousClock.now
        do {
            _ = try await download.value
            Issue.record("an 8 GiB download finished in 300 ms?")
        } catch let error as HTTPClientError {
            #expect(error.code == .cancelled)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        _ = streaming  // dropping the stream cancels its transfer too
        client.shutdown()
        server.stop()
    }

    @Test func stalledTransferHitsTheLowSpeedTimeout() async throws {
        var request = HTTPRequest(.get, url: base + "/stall/1000")
        request.timeouts = HTTPTimeouts(connect: .seconds(5), lowSpeedLimit: 100, lowSpeedTime: .seconds(1))
        let started = ContinuousClock.now
        do {
            _ = try await client.execute(request)
            Issue.record("expected a timeout")
        } catch {
            #expect(error.code == .timeout)
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        client.shutdown()
        server.stop()
    }

    @Test func unreachableHostIsAConnectError() async throws {
        // Port 9 (discard) on loopback: nothing listens there in the test environment.
        do {
            _ = try await client.execute(HTTPRequest(.get, url: "http://127.0.0.1:9/"))
            Issue.record("expected a connect error")
        } catch {
            #expect(error.code == .connect)
        }
        client.shutdown()
        server.stop()
    }
}
