import Foundation
import HTTPClient
@testable import Mirror
import OCI
import Storage
import Testing

@Suite struct BlobFillTests {
    let route = MirrorRoute(localRepository: RepositoryName("a")!, registry: "r.example", upstreamRepository: RepositoryName("a")!)

    func makeFill() throws -> (BlobFill, String) {
        let root = NSTemporaryDirectory() + "wharf-fill-" + UUID().uuidString
        let store = ContentStore(driver: FilesystemDriver(root: root))
        let digest = Digest.sha256(of: Array("x".utf8))
        return (try BlobFill(digest: digest, route: route, staging: store.makeStagingFile(for: digest)), root)
    }

    func write(_ fill: BlobFill, _ text: String) {
        _ = text.utf8CString.withUnsafeBytes { Foundation.write(fill.writeDescriptor, $0.baseAddress!, text.utf8.count) }
    }

    @Test(.timeLimit(.minutes(1)))
    func readersSeeBytesAsTheyLand() async throws {
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        fill.downloadDidReceiveHead(HTTPResponseHead(status: 200, headers: ["Content-Length": "10"], url: "", httpVersion: "1.1"))
        #expect(try await fill.size() == 10)
        async let waited = fill.waitForBytes(beyond: 4)
        write(fill, "01234")
        fill.downloadDidWrite(total: 5)
        #expect(try await waited == 5)
        var buffer = [UInt8](repeating: 0, count: 3)
        let count = try buffer.withUnsafeMutableBytes { try fill.read(at: 2, into: $0) }
        #expect(count == 3 && buffer == Array("234".utf8))
    }

    @Test(.timeLimit(.minutes(1)))
    func aFailureReachesEveryWaitingReader() async throws {
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = Task { try await fill.waitForBytes(beyond: 0) }
        let second = Task { try await fill.size() }
        try await Task.sleep(for: .milliseconds(20))
        fill.finish(.failed(RegistryError(.unavailable, "upstream gone")))
        await #expect(throws: RegistryError.self) { try await first.value }
        await #expect(throws: RegistryError.self) { try await second.value }
    }

    @Test func aResumeTheUpstreamAnswersWithTheWholeBodyRestartsAtZero() throws {
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        write(fill, "0123")
        fill.downloadDidWrite(total: 4)
        fill.prepareAttempt(from: 4)
        fill.downloadDidReceiveHead(HTTPResponseHead(status: 200, headers: ["Content-Length": "8"], url: "", httpVersion: "1.1"))
        write(fill, "01234567")
        fill.downloadDidWrite(total: 8)
        #expect(fill.bytesWritten == 8)
        #expect(FileManager.default.contents(atPath: fill.staging.fullPath) == Data("01234567".utf8))
    }

    @Test func aPartialResumeContinuesAfterTheBytesKept() throws {
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        write(fill, "0123")
        fill.downloadDidWrite(total: 4)
        fill.prepareAttempt(from: 4)
        fill.downloadDidReceiveHead(HTTPResponseHead(status: 206, headers: ["Content-Range": "bytes 4-7/8"], url: "", httpVersion: "1.1"))
        write(fill, "4567")
        fill.downloadDidWrite(total: 4)
        #expect(fill.bytesWritten == 8)
        #expect(FileManager.default.contents(atPath: fill.staging.fullPath) == Data("01234567".utf8))
    }
}
