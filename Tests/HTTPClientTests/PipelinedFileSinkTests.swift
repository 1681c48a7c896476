import Foundation
@testable import HTTPClient
import Testing
import UpstreamTestSupport

/// Tiny rings make the hash queue fall behind, so the write callback runs dry (overflow), pauses,
/// and is resumed by the queue: the digest and the file must still be exact.
@Suite("pipelined file sink under pressure", .timeLimit(.minutes(2)))
struct PipelinedFileSinkTests {
    @Test(arguments: [(10_000, 1), (16_384, 2), (100_003, 3)])
    func tinyRingsStillWriteAndHashExactly(bufferSize: Int, bufferCount: Int) async throws {
        let server = try FixtureProcess("http_fixture.py")
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let dir = TemporaryDirectory()
        let fd = open(dir.file("body"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let count = 12 * 1024 * 1024 + 5
        let result = try await client.download(HTTPRequest(.get, url: "http://127.0.0.1:\(server.int("port"))/bytes/\(count)"), to: fd,
                                               hashing: .sha256, placement: .pipelined, ringBufferSize: bufferSize, ringBufferCount: bufferCount)
        #expect(result.bytesWritten == Int64(count))
        if bufferCount == 1 { #expect(result.pauseCount > 0, "a one-buffer ring never made the transfer wait for the hash queue") }
        #expect(result.digest == patternDigest(count: count))
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.file("body")))
        #expect(data.count == count)
        #expect(data.suffix(1000).elementsEqual((count - 1000..<count).map(patternByte)))
    }
}
