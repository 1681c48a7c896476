#if canImport(Glibc)
import Glibc
#endif
import Foundation
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
        /// Why the fill refused what the upstream sent (a lying size or range, a body past its
        /// size, no staging room): final, never retried.
        var refusal: RegistryError?
        /// Staging bytes this fill holds in `budget`.
        var reserved: Int64 = 0
        /// The size a manifest of this fill's upstream gave the blob, if one did.
        var expected: Int64?
    }

    public let digest: Digest
    /// The route whose upstream this fill pulls from (nil for an edge's fetch from its origin).
    public let route: MirrorRoute?
    let staging: StagingFile
    let writeDescriptor: Int32
    private let readDescriptor: Int32
    private let state = Mutex(State())
    /// Staging space shared by every fill; nil: unbounded (tests).
    private let budget: StagingBudget?
    /// Seconds a client is told to wait when staging is full.
    static let retryAfterSeconds = 10

    init(digest: Digest, route: MirrorRoute?, staging: StagingFile, budget: StagingBudget? = nil) throws {
        self.digest = digest
        self.route = route
        self.staging = staging
        self.budget = budget
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

    /// Checks a response before its body is written: a 200 answers only a request from the start
    /// (a resume answered with the whole blob cannot be shown to match the bytes readers already
    /// have); a 206 must start where the fill asked, run to the end, and agree with its own
    /// `Content-Length`; a declared size never changes between attempts and must fit in staging.
    public func downloadShouldAccept(_ head: HTTPResponseHead) -> HTTPClientError? {
        let upstream = route?.registry ?? "the origin"
        let refusal = state.withLock { state -> RegistryError? in
            if let refusal = state.refusal { return refusal }
            let offset = state.base
            let declared: Int64?
            switch head.status {
            case 200:
                guard offset == 0 else {
                    return Self.refused(state: &state, "upstream \(upstream) answered the resume of \(digest) from byte \(offset) with the whole blob (200)")
                }
                declared = head.contentLength
            case 206:
                guard let range = head.headers["Content-Range"].flatMap(Self.parseContentRange) else {
                    return Self.refused(state: &state, "upstream \(upstream) answered the resume of \(digest) with 206 and no usable Content-Range")
                }
                guard range.start == offset, range.end == range.total - 1,
                      head.contentLength.map({ $0 == range.end - range.start + 1 }) ?? true else {
                    return Self.refused(state: &state, "upstream \(upstream) answered the resume of \(digest) from byte \(offset) with Content-Range \(head.headers["Content-Range"] ?? "")")
                }
                declared = range.total
            default:
                return Self.refused(state: &state, "upstream \(upstream) answered the blob \(digest) with \(head.status)")
            }
            if let declared, let expected = state.expected, declared != expected {
                return Self.refused(state: &state, "upstream \(upstream) declared \(declared) bytes for \(digest), its manifest \(expected)")
            }
            guard let size = declared ?? state.expected else { return nil }
            if let declared, let known = state.total, known != declared {
                return Self.refused(state: &state, "upstream \(upstream) declared \(declared) bytes for \(digest), \(known) before")
            }
            if size > state.reserved {
                if let budget, !budget.reserve(size - state.reserved) {
                    return Self.stagingFull(state: &state, digest: digest, budget: budget)
                }
                state.reserved = size
            }
            return nil
        }
        return refusal.map { HTTPClientError(.transfer, $0.message) }
    }

    /// Stops a body at the size its head declared; a body with no declared size takes staging
    /// room as it arrives, and stops when there is none.
    public func downloadShouldWrite(upTo total: Int64) -> HTTPClientError? {
        let upstream = route?.registry ?? "the origin"
        let refusal = state.withLock { state -> RegistryError? in
            if let refusal = state.refusal { return refusal }
            let (end, overflow) = state.base.addingReportingOverflow(total)
            if let declared = state.total ?? state.expected {
                guard !overflow, end <= declared else {
                    return Self.refused(state: &state, "upstream \(upstream) sent more than the \(declared) bytes it declared for \(digest)")
                }
                return nil
            }
            guard !overflow else { return Self.refused(state: &state, "upstream \(upstream) sent too much for \(digest)") }
            if end > state.reserved {
                if let budget, !budget.reserve(end - state.reserved) {
                    return Self.stagingFull(state: &state, digest: digest, budget: budget)
                }
                state.reserved = end
            }
            return nil
        }
        return refusal.map { HTTPClientError(.transfer, $0.message) }
    }

    /// What the fill refused, if it refused something (checked before any retry: never retried).
    var refusal: RegistryError? { state.withLock { $0.refusal } }

    /// The size the upstream declared (in its headers, or in a manifest), if it did.
    var declaredSize: Int64? { state.withLock { $0.total ?? $0.expected } }

    /// The blob's size as a manifest of the fill's upstream gave it: no body may be longer, and a
    /// head that declares another size is refused. Called before the fetch starts.
    func expect(size: Int64) {
        state.withLock { $0.expected = size }
    }

    private static func refused(state: inout State, _ message: String) -> RegistryError {
        let error = RegistryError(.unavailable, message, status: 502)
        state.refusal = error
        return error
    }

    private static func stagingFull(state: inout State, digest: Digest, budget: StagingBudget) -> RegistryError {
        let error = Self.stagingFullError(digest, budget: budget)
        state.refusal = error
        return error
    }

    /// 503 `UNAVAILABLE` with `Retry-After`: engines (Docker, containerd) retry it; they give up
    /// on `TOOMANYREQUESTS`.
    static func stagingFullError(_ digest: Digest, budget: StagingBudget) -> RegistryError {
        RegistryError(.unavailable, "staging space is full (mirror.maxstagingbytes \(budget.limit)): cannot fetch \(digest) now; try again",
                      headers: [("Retry-After", String(retryAfterSeconds))], status: 503)
    }

    public func downloadDidReceiveHead(_ head: HTTPResponseHead) {
        // `downloadShouldAccept` vetted the head: a 200 comes only at offset 0.
        guard head.isSuccess else { return }
        let wake = state.withLock { state -> [Waiter] in
            if head.status == 200 {
                if let length = head.contentLength { state.total = length }
            } else if head.status == 206, let range = head.headers["Content-Range"].flatMap(Self.parseContentRange) {
                state.total = range.total
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
        let (wake, reserved) = state.withLock { state -> ([Waiter], Int64) in
            state.outcome = outcome
            if case .committed = outcome {
                // A body without Content-Length: its size is what arrived (the fill checked that
                // a declared size was met before committing).
                state.total = state.total ?? state.written
            }
            let reserved = state.reserved
            state.reserved = 0
            defer { state.waiters = [] }
            return (state.waiters, reserved)
        }
        budget?.release(reserved)
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

    /// `bytes <start>-<end>/<total>` with `start <= end < total`, or nil (also for `*` totals
    /// and numbers that do not fit).
    static func parseContentRange(_ value: String) -> (start: Int64, end: Int64, total: Int64)? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = text.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-"), let slash = spec.firstIndex(of: "/"), dash < slash else { return nil }
        func number(_ s: Substring) -> Int64? {
            guard !s.isEmpty, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber) else { return nil }
            return Int64(s)
        }
        guard let start = number(spec[..<dash]), let end = number(spec[spec.index(after: dash)..<slash]),
              let total = number(spec[spec.index(after: slash)...]), start <= end, end < total else { return nil }
        return (start, end, total)
    }
}
