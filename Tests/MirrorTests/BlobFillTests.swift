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

    @Test func aResumeTheUpstreamAnswersWithTheWholeBodyIsRefused() throws {
        // Readers already have the first bytes; a whole new body cannot be shown to match them.
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        write(fill, "0123")
        fill.downloadDidWrite(total: 4)
        fill.prepareAttempt(from: 4)
        let head = HTTPResponseHead(status: 200, headers: ["Content-Length": "8"], url: "", httpVersion: "1.1")
        #expect(fill.downloadShouldAccept(head) != nil)
        #expect(fill.refusal?.status == 502)
    }

    @Test func aResumeWithALyingContentRangeIsRefused() throws {
        for (range, length) in [("bytes 0-7/8", "8"), ("bytes 4-6/8", "3"), ("bytes 4-7/9", "4"), ("bytes 4-7/8", "5"), ("bytes */8", "4"),
                                ("bytes 4-3/8", "0"), ("bytes 4-7/99999999999999999999", "4")] {
            let (fill, root) = try makeFill()
            defer { try? FileManager.default.removeItem(atPath: root) }
            fill.downloadDidReceiveHead(HTTPResponseHead(status: 200, headers: ["Content-Length": "8"], url: "", httpVersion: "1.1"))
            write(fill, "0123")
            fill.downloadDidWrite(total: 4)
            fill.prepareAttempt(from: 4)
            let head = HTTPResponseHead(status: 206, headers: ["Content-Range": range, "Content-Length": length], url: "", httpVersion: "1.1")
            #expect(fill.downloadShouldAccept(head) != nil, "accepted \(range)")
        }
    }

    @Test func aBodyStopsAtItsDeclaredSize() throws {
        let (fill, root) = try makeFill()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let head = HTTPResponseHead(status: 200, headers: ["Content-Length": "8"], url: "", httpVersion: "1.1")
        #expect(fill.downloadShouldAccept(head) == nil)
        fill.downloadDidReceiveHead(head)
        #expect(fill.downloadShouldWrite(upTo: 8) == nil)
        #expect(fill.downloadShouldWrite(upTo: 9) != nil)
        #expect(fill.refusal != nil)
    }

    @Test func stagingReservationsAreBoundedAndReleased() throws {
        let root = NSTemporaryDirectory() + "wharf-fill-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ContentStore(driver: FilesystemDriver(root: root))
        let budget = StagingBudget(limit: 10)
        let digest = Digest.sha256(of: Array("x".utf8))
        let first = try BlobFill(digest: digest, route: route, staging: store.makeStagingFile(for: digest), budget: budget)
        #expect(first.downloadShouldAccept(HTTPResponseHead(status: 200, headers: ["Content-Length": "8"], url: "", httpVersion: "1.1")) == nil)
        let second = try BlobFill(digest: digest, route: route, staging: store.makeStagingFile(for: digest), budget: budget)
        // No size declared: bytes are reserved as they come, up to what is left.
        #expect(second.downloadShouldAccept(HTTPResponseHead(status: 200, headers: [:], url: "", httpVersion: "1.1")) == nil)
        #expect(second.downloadShouldWrite(upTo: 2) == nil)
        #expect(second.downloadShouldWrite(upTo: 3) != nil)
        #expect(second.refusal?.status == 503)
        #expect(second.refusal?.headers.contains { $0.0 == "Retry-After" } == true)
        first.finish(.committed)
        second.finish(.failed(second.refusal!))
        #expect(budget.bytesInUse == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func keyedSlotsBoundEachKeyApart() async throws {
        let slots = KeyedSlots<String>(1)
        await slots.acquire("slow")
        let waiting = Task { await slots.acquire("slow") }
        await slots.acquire("fast")  // another key is not held up
        #expect(slots.held("slow") == 1 && slots.held("fast") == 1)
        slots.release("fast")
        slots.release("slow")
        await waiting.value
        #expect(slots.held("slow") == 1)
        slots.release("slow")
        #expect(slots.held("slow") == 0)
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
