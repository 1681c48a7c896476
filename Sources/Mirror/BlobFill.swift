#if canImport(Glibc)
import Glibc
#endif
import HTTPClient
import OCI
import Storage
import Synchronization

/// One upstream fetch of one blob into a staging file, read by any number of clients while it
/// runs. The fill is detached from its clients: a client that hangs up ends only its own read.
///
/// Readers wait for bytes with `waitForBytes(beyond:)` and read them with `read(at:maxBytes:)`
/// from a descriptor the fill opened when it began, which stays valid when the staging file is
/// renamed into the store (commit) or deleted (failure).
public final class BlobFill: DownloadObserver, Sendable {
    public enum Outcome: Sendable {
        case running
        case committed
        case failed(RegistryError)
    }

    private struct Waiter {
        var minimum: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var total: Int64?
        var written: Int64 = 0
        /// Where the current transfer's bytes start in the file: the resume offset for a 206.
        var base: Int64 = 0
        var outcome = Outcome.running
        /// The bytes matched the digest; committing (fsync, rename) may still be under way.
        var verified = false
        var waiters: [Waiter] = []
    }

    public let digest: Digest
    /// The route whose upstream this fill pulls from (nil for an edge's fetch from its origin).
    public let route: MirrorRoute?
    let staging: StagingFile
    let writeDescriptor: Int32
    private let readDescriptor: Int32
    private let state = Mutex(State())

    init(digest: Digest, route: MirrorRoute?, staging: StagingFile) throws {
        self.digest = digest
        self.route = route
        self.staging = staging
        writeDescriptor = open(staging.fullPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard writeDescriptor >= 0 else {
            throw StorageError(.io, "cannot create staging file \(staging.fullPath): \(String(cString: strerror(errno)))")
        }
        readDescriptor = open(staging.fullPath, O_RDONLY | O_CLOEXEC)
        guard readDescriptor >= 0 else {
            close(writeDescriptor)
            throw StorageError(.io, "cannot open staging file \(staging.fullPath): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        close(writeDescriptor)
        close(readDescriptor)
    }

    // MARK: Readers

    /// The blob's size, once the upstream has said it.
    /// - Throws: the fill's error, if it failed first.
    public func size() async throws(RegistryError) -> Int64 {
        while true {
            let snapshot = state.withLock { ($0.total, $0.outcome) }
            if case .failed(let error) = snapshot.1 { throw error }
            if let total = snapshot.0 { return total }
            if case .committed = snapshot.1 { return state.withLock { $0.written } }
            await waitForChange(minimum: 0)
        }
    }

    /// Waits until more than `offset` bytes are in the file, and returns how many there are.
    /// - Throws: the fill's error when it failed: a reader must never end a body early.
    public func waitForBytes(beyond offset: Int64) async throws(RegistryError) -> Int64 {
        while true {
            let (written, outcome) = state.withLock { ($0.written, $0.outcome) }
            if case .failed(let error) = outcome { throw error }
            if written > offset { return written }
            if case .committed = outcome { return written }
            await waitForChange(minimum: offset + 1)
        }
    }

    /// Waits until the fill has ended: verified and committed, or failed.
    /// - Throws: the fill's error when the blob was not what its digest says.
    public func waitUntilVerified() async throws(RegistryError) {
        while true {
            let (outcome, verified) = state.withLock { ($0.outcome, $0.verified) }
            switch outcome {
            case .committed: return
            case .failed(let error): throw error
            case .running:
                if verified { return }
                await waitForChange(minimum: .max)
            }
        }
    }

    /// Reads bytes from `offset`, which `waitForBytes` said are in the file, into `buffer`.
    /// - Returns: how many were read.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = pread(readDescriptor, buffer.baseAddress!, buffer.count, off_t(offset))
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw StorageError(.io, "reading staging file: \(String(cString: strerror(errno)))") }
            return count
        }
    }

    /// A new descriptor of the staging file for `sendfile`; the caller closes it.
    public func duplicateReadDescriptor() throws -> Int32 {
        let descriptor = dup(readDescriptor)
        guard descriptor >= 0 else { throw StorageError(.io, "dup: \(String(cString: strerror(errno)))") }
        return descriptor
    }

    public var outcome: Outcome { state.withLock { $0.outcome } }
    public var bytesWritten: Int64 { state.withLock { $0.written } }

    private func waitForChange(minimum: Int64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                guard case .running = state.outcome else { return true }
                if minimum > 0 && state.written >= minimum { return true }
                if minimum == 0 && state.total != nil { return true }
                    if minimum == .max && state.verified { return true }
                state.waiters.append(Waiter(minimum: minimum, continuation: continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: The fill's side

    /// Called before each attempt: where this attempt's bytes will start.
    func prepareAttempt(from offset: Int64) {
        lseek(writeDescriptor, off_t(offset), SEEK_SET)
        state.withLock { $0.base = offset }
    }

    public func downloadDidReceiveHead(_ head: HTTPResponseHead) {
        guard head.isSuccess else { return }
        let wake = state.withLock { state -> [Waiter] in
            if head.status == 200 {
                // A whole body (also when a resume's Range was ignored): rewrite from the start;
                // the bytes are the same, so readers past them are unaffected.
                if state.base != 0 {
                    lseek(writeDescriptor, 0, SEEK_SET)
                    state.base = 0
                }
                if let length = head.contentLength { state.total = length }
            } else if head.status == 206, let total = Self.totalFromContentRange(head) {
                state.total = total
            }
            return takeWaiters(&state)
        }
        for waiter in wake { waiter.continuation.resume() }
    }

    public func downloadDidWrite(total: Int64) {
        let wake = state.withLock { state -> [Waiter] in
            state.written = max(state.written, state.base + total)
            return takeWaiters(&state)
        }
        for waiter in wake { waiter.continuation.resume() }
    }

    /// The bytes matched the digest: readers holding the last byte may send it now, before the
    /// copy is made durable and published.
    func markVerified() {
        let wake = state.withLock { state -> [Waiter] in
            state.verified = true
            var ready: [Waiter] = []
            state.waiters.removeAll { waiter in
                if waiter.minimum == .max { ready.append(waiter); return true }
                return false
            }
            return ready
        }
        for waiter in wake { waiter.continuation.resume() }
    }

    func finish(_ outcome: Outcome) {
        let wake = state.withLock { state -> [Waiter] in
            state.outcome = outcome
            if case .committed = outcome {
                // A body without Content-Length: its size is what arrived.
                state.total = state.total ?? state.written
                state.written = state.total!
            }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in wake { waiter.continuation.resume() }
    }

    /// Waiters whose condition now holds, removed from the state.
    private func takeWaiters(_ state: inout State) -> [Waiter] {
        var ready: [Waiter] = []
        state.waiters.removeAll { waiter in
            let met = waiter.minimum == 0 ? state.total != nil : state.written >= waiter.minimum
            if met { ready.append(waiter) }
            return met
        }
        return ready
    }

    static func totalFromContentRange(_ head: HTTPResponseHead) -> Int64? {
        guard let value = head.headers["Content-Range"], let slash = value.lastIndex(of: "/") else { return nil }
        return Int64(value[value.index(after: slash)...]).flatMap { $0 >= 0 ? $0 : nil }
    }
}
