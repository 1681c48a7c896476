import Foundation
import OCI
import Synchronization

/// Collects a (small) body in memory: manifests, token responses, error documents.
///
/// `@unchecked Sendable`: `continuation` is set before the transfer is enqueued (the inbox lock
/// orders that write before the loop's reads) and everything else is touched by the loop thread only.
final class CollectingSink: TransferSink, @unchecked Sendable {
    private let limit: Int
    private var body: [UInt8] = []
    var continuation: CheckedContinuation<HTTPResponse, any Error>?

    init(limit: Int) { self.limit = limit }

    func receivedHead(_ head: HTTPResponseHead) {
        if let length = head.contentLength, length > 0, length <= Int64(limit) { body.reserveCapacity(Int(length)) }
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) -> BodyDisposition {
        guard body.count + bytes.count <= limit else {
            return .abort(HTTPClientError(.bodyTooLarge, "response body exceeds \(limit) bytes"))
        }
        body.append(contentsOf: bytes)
        return .accepted
    }

    func finished(_ result: Result<TransferSummary, HTTPClientError>) {
        let c = continuation
        continuation = nil
        switch result {
        case .success(let summary):
            let isBodyResponse = summary.head.isSuccess
            c?.resume(returning: HTTPResponse(head: summary.head, body: isBodyResponse ? body : summary.errorBody))
        case .failure(let error):
            c?.resume(throwing: error)
        }
    }
}

/// Writes a 2xx body to a file descriptor, hashing it on the loop thread.
///
/// libcurl hands over at most 16 KiB per callback; they are gathered into one `bufferSize` buffer
/// and written (and hashed) a buffer at a time. `@unchecked Sendable`: as `CollectingSink`.
final class FileSink: TransferSink, @unchecked Sendable {
    static let defaultBufferSize = 256 * 1024

    private let fd: Int32
    private var hasher: DigestHasher?
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var written: Int64 = 0
    var continuation: CheckedContinuation<HTTPDownload, any Error>?
    private let observer: (any DownloadObserver)?

    init(fd: Int32, hashing: DigestHasher.Algorithm?, bufferSize: Int = FileSink.defaultBufferSize,
         observer: (any DownloadObserver)? = nil) {
        self.fd = fd
        self.observer = observer
        self.hasher = hashing.map { DigestHasher(algorithm: $0) }
        self.buffer = .allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// The observer refused the response: the transfer ends with this error.
    private var refusal: HTTPClientError?

    func receivedHead(_ head: HTTPResponseHead) {
        if head.isSuccess, let error = observer?.downloadShouldAccept(head) {
            refusal = error
            return
        }
        observer?.downloadDidReceiveHead(head)
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) -> BodyDisposition {
        if let refusal { return .abort(refusal) }
        var rest = bytes
        while !rest.isEmpty {
            let n = min(rest.count, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            filled += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if filled == buffer.count, let error = flush() { return .abort(error) }
        }
        return .accepted
    }

    /// Hashes and writes the gathered bytes.
    private func flush() -> HTTPClientError? {
        guard filled > 0 else { return nil }
        if let error = observer?.downloadShouldWrite(upTo: written + Int64(filled)) {
            filled = 0
            return error
        }
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<filled])
        hasher?.update(chunk)
        var offset = 0
        while offset < chunk.count {
            let n = Foundation.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return HTTPClientError(.io, "writing the response body failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        written += Int64(filled)
        observer?.downloadDidWrite(total: written)
        filled = 0
        return nil
    }

    func finished(_ result: Result<TransferSummary, HTTPClientError>) {
        let c = continuation
        continuation = nil
        switch result {
        case .success(let summary):
            if let refusal {
                c?.resume(throwing: refusal)
                return
            }
            if summary.head.isSuccess, let error = flush() {
                c?.resume(throwing: error)
                return
            }
            let digest = summary.head.isSuccess ? hasher?.finalize().description : nil
            c?.resume(returning: HTTPDownload(head: summary.head, bytesWritten: written, digest: digest, errorBody: summary.errorBody))
        case .failure(let error):
            c?.resume(throwing: error)
        }
    }
}

/// Hands a body to a slower async consumer through a bounded buffer.
///
/// When the buffer cannot take the next callback's bytes, the write callback returns
/// CURL_WRITEFUNC_PAUSE (libcurl keeps those bytes). The consumer, on taking the buffer,
/// sees `paused` under the same lock and asks the loop to resume: the decision to pause and the
/// decision to resume are made under one lock, so a resume can't be lost between them.
final class StreamingSink: TransferSink, Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var paused = false
        var head: HTTPResponseHead?
        var headWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
        var bodyWaiter: CheckedContinuation<[UInt8]?, any Error>?
        var outcome: Result<TransferSummary, HTTPClientError>?
        /// Pauses so far, and the most bytes ever held; for tests and metrics.
        var pauseCount = 0
        var maxBuffered = 0
    }

    let limit: Int
    let handle: TransferHandle
    private let loop: CurlLoop
    private let state = Mutex(State())

    init(limit: Int, handle: TransferHandle, loop: CurlLoop) {
        self.limit = limit
        self.handle = handle
        self.loop = loop
    }

    var pauseCount: Int { state.withLock { $0.pauseCount } }
    var maxBuffered: Int { state.withLock { $0.maxBuffered } }

    // MARK: Loop thread

    func receivedHead(_ head: HTTPResponseHead) {
        let waiter = state.withLock { s -> CheckedContinuation<HTTPResponseHead, any Error>? in
            s.head = head
            defer { s.headWaiter = nil }
            return s.headWaiter
        }
        waiter?.resume(returning: head)
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) -> BodyDisposition {
        let (disposition, wake) = state.withLock { s -> (BodyDisposition, (CheckedContinuation<[UInt8]?, any Error>, [UInt8])?) in
            if !s.buffer.isEmpty && s.buffer.count + bytes.count > limit {
                s.paused = true
                s.pauseCount += 1
                return (.pause, nil)
            }
            s.buffer.append(contentsOf: bytes)
            s.maxBuffered = max(s.maxBuffered, s.buffer.count)
            guard let waiter = s.bodyWaiter else { return (.accepted, nil) }
            s.bodyWaiter = nil
            let chunk = s.buffer
            s.buffer = []
            return (.accepted, (waiter, chunk))
        }
        if let (waiter, chunk) = wake { waiter.resume(returning: chunk) }
        return disposition
    }

    func finished(_ result: Result<TransferSummary, HTTPClientError>) {
        let (headWaiter, bodyWaiter, chunk) = state.withLock { s in
            s.outcome = result
            let hw = s.headWaiter
            s.headWaiter = nil
            var bw: CheckedContinuation<[UInt8]?, any Error>? = nil
            var chunk: [UInt8]? = nil
            if let w = s.bodyWaiter {
                bw = w
                s.bodyWaiter = nil
                if !s.buffer.isEmpty { chunk = s.buffer; s.buffer = [] }
            }
            return (hw, bw, chunk)
        }
        switch result {
        case .success(let summary):
            headWaiter?.resume(returning: summary.head)
            if let chunk { bodyWaiter?.resume(returning: chunk) } else { bodyWaiter?.resume(returning: nil) }
        case .failure(let error):
            headWaiter?.resume(throwing: error)
            if let chunk { bodyWaiter?.resume(returning: chunk) } else { bodyWaiter?.resume(throwing: error) }
        }
    }
}

extension StreamingSink {
    // MARK: Consumer side (any task)

    /// Waits for the final response's head.
    func awaitHead() async throws -> HTTPResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
                let immediate = state.withLock { s -> Result<HTTPResponseHead, any Error>? in
                    if let head = s.head { return .success(head) }
                    if case .failure(let error) = s.outcome { return .failure(error) }
                    if case .success(let summary) = s.outcome { return .success(summary.head) }
                    s.headWaiter = c
                    return nil
                }
                if let immediate { c.resume(with: immediate) }
            }
        } onCancel: {
            loop.cancel(handle)
        }
    }

    /// The next bytes of the body, nil at its end. Taking bytes frees buffer space, so a transfer
    /// paused for a full buffer is resumed here.
    func next() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8]?, any Error>) in
                let (immediate, resume) = state.withLock { s -> (Result<[UInt8]?, any Error>?, Bool) in
                    let resume = s.paused
                    s.paused = false
                    if !s.buffer.isEmpty {
                        let chunk = s.buffer
                        s.buffer = []
                        return (.success(chunk), resume)
                    }
                    switch s.outcome {
                    case .success: return (.success(nil), false)
                    case .failure(let error): return (.failure(error), false)
                    case nil:
                        s.bodyWaiter = c
                        return (nil, resume)
                    }
                }
                if resume { loop.resume(handle.id) }
                if let immediate { c.resume(with: immediate) }
            }
        } onCancel: {
            loop.cancel(handle)
        }
    }

    /// The first bytes of a non-2xx body, once the transfer has ended.
    var errorBody: [UInt8] {
        state.withLock { s in
            if case .success(let summary) = s.outcome { return summary.errorBody }
            return []
        }
    }

    func cancel() { loop.cancel(handle) }
}
