import Dispatch
import Foundation
import OCI
import Synchronization

/// Writes a 2xx body to a file descriptor on the loop thread and hashes it on a serial dispatch
/// queue, so receiving and hashing overlap (on two cores the hash is the cold path's limit).
///
/// A fixed ring of `bufferCount` buffers of `bufferSize` bytes bounds memory. The loop fills one,
/// writes it, and hands it to the queue; when no buffer is free the write callback pauses the
/// transfer, and the queue, on freeing a buffer, asks the loop to resume. Both decisions are made
/// under one lock, so a resume can't be lost between "pause" and "buffer freed".
final class PipelinedFileSink: TransferSink, @unchecked Sendable {
    // @unchecked: `current`, `filled`, `written`, `overflow` and `continuation` belong to the loop
    // thread (the continuation is set before the transfer is enqueued); `hasher` belongs to `queue`;
    // the shared part is in `shared`, behind its Mutex.
    private struct Shared {
        var free: [RingBuffer]
        var pausedForBuffer = false
        var pauseCount = 0
        var writeError: HTTPClientError?
    }

    private let fd: Int32
    private let loop: CurlLoop
    private let handle: TransferHandle
    private let queue = DispatchQueue(label: "wharf.http.hash")
    private var hasher: DigestHasher?
    private let all: [UnsafeMutableRawBufferPointer]
    private let shared: Mutex<Shared>

    private var current: UnsafeMutableRawBufferPointer?
    private var filled = 0
    private var written: Int64 = 0
    /// Bytes of a callback that did not fit once the ring ran dry (at most one callback, 16 KiB).
    private var overflow: [UInt8] = []
    var continuation: CheckedContinuation<HTTPDownload, any Error>?
    private let observer: (any DownloadObserver)?

    init(fd: Int32, hashing: DigestHasher.Algorithm?, loop: CurlLoop, handle: TransferHandle,
         bufferSize: Int = 256 * 1024, bufferCount: Int = 4, observer: (any DownloadObserver)? = nil) {
        self.fd = fd
        self.observer = observer
        self.loop = loop
        self.handle = handle
        self.hasher = hashing.map { DigestHasher(algorithm: $0) }
        let buffers = (0..<bufferCount).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 4096) }
        self.all = buffers
        self.shared = Mutex(Shared(free: buffers.map(RingBuffer.init)))
    }

    deinit { for b in all { b.deallocate() } }

    /// The observer refused the response: the transfer ends with this error (loop thread).
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
        if current == nil {
            guard takeFreeBuffer() else {
                shared.withLock { $0.pauseCount += 1 }
                return .pause
            }
        }
        if !overflow.isEmpty {
            let pending = overflow
            overflow = []
            if case .abort(let error) = pending.withUnsafeBytes({ append($0) }) { return .abort(error) }
        }
        return append(bytes)
    }

    /// Copies into the current buffer, handing full buffers to the queue; what does not fit once
    /// the ring is empty goes to `overflow` (the bytes were accepted: libcurl will not send them again).
    private func append(_ input: UnsafeRawBufferPointer) -> BodyDisposition {
        var rest = input
        while !rest.isEmpty {
            guard let buffer = current else {
                overflow.append(contentsOf: rest)
                return .accepted
            }
            let n = min(rest.count, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            filled += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if filled == buffer.count {
                if let error = handOff() { return .abort(error) }
                _ = takeFreeBuffer()
            }
        }
        return .accepted
    }

    /// Takes a free buffer as `current`; false (and the sink marked paused) when there is none.
    private func takeFreeBuffer() -> Bool {
        let buffer = shared.withLock { s -> RingBuffer? in
            if let b = s.free.popLast() { return b }
            s.pausedForBuffer = true
            return nil
        }
        current = buffer?.pointer
        filled = 0
        return buffer != nil
    }

    /// Writes the current buffer and queues it for hashing.
    private func handOff() -> HTTPClientError? {
        guard let buffer = current else { return nil }
        let count = filled
        current = nil
        filled = 0
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        if let error = observer?.downloadShouldWrite(upTo: written + Int64(count)) {
            let ring = RingBuffer(pointer: buffer)
            shared.withLock { $0.free.append(ring) }
            return error
        }
        var offset = 0
        while offset < count {
            let n = Foundation.write(fd, chunk.baseAddress! + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let error = HTTPClientError(.io, "writing the response body failed: \(String(cString: strerror(errno)))")
                let ring = RingBuffer(pointer: buffer)
                shared.withLock { $0.free.append(ring) }
                return error
            }
            offset += n
        }
        written += Int64(count)
        observer?.downloadDidWrite(total: written)
        let ring = RingBuffer(pointer: buffer)
        queue.async { [self] in
            hasher?.update(UnsafeRawBufferPointer(rebasing: ring.pointer[0..<count]))
            let resume = shared.withLock { s -> Bool in
                s.free.append(ring)
                defer { s.pausedForBuffer = false }
                return s.pausedForBuffer
            }
            if resume { loop.resume(handle.id) }
        }
        return nil
    }

    func finished(_ result: Result<TransferSummary, HTTPClientError>) {
        let c = continuation
        continuation = nil
        switch result {
        case .success(let summary):
            guard summary.head.isSuccess else {
                c?.resume(returning: HTTPDownload(head: summary.head, bytesWritten: 0, digest: nil, errorBody: summary.errorBody))
                return
            }
            if let refusal {
                queue.async { c?.resume(throwing: refusal) }
                return
            }
            // A transfer ends only after its last callback, so `overflow` can be non-empty only if
            // the ring was empty then; the queue frees buffers, so wait for one here (rare, short).
            while !overflow.isEmpty {
                if current == nil {
                    queue.sync {}
                    _ = takeFreeBuffer()
                    continue
                }
                let pending = overflow
                overflow = []
                if case .abort(let error) = pending.withUnsafeBytes({ append($0) }) {
                    c?.resume(throwing: error)
                    return
                }
            }
            if filled > 0, let error = handOff() {
                c?.resume(throwing: error)
                return
            }
            let written = self.written
            queue.async { [self] in
                let digest = hasher?.finalize().description
                let pauses = shared.withLock { $0.pauseCount }
                c?.resume(returning: HTTPDownload(head: summary.head, bytesWritten: written, digest: digest, errorBody: [], pauseCount: pauses))
            }
        case .failure(let error):
            queue.async { c?.resume(throwing: error) }
        }
    }
}

/// One buffer of the ring. `@unchecked Sendable`: ownership moves with it (loop → queue → free
/// list → loop), and whoever holds it is the only one touching its bytes.
private struct RingBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawBufferPointer
}
