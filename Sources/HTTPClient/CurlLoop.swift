import CCurl
import CCurlShim
import Foundation
import Synchronization

/// `curl_global_init`, exactly once per process (a global `let` is initialised once, thread-safely).
private let curlGlobalInit: Bool = curl_global_init(CCurlShim_GLOBAL_ALL) == CURLE_OK

/// The thread that owns libcurl's multi handle and every easy handle.
///
/// Other threads only enqueue work (start, cancel, resume) under a lock and wake the loop with
/// `curl_multi_wakeup`; the loop runs perform → finished messages → poll. No Swift concurrency
/// thread ever blocks on a transfer.
final class CurlLoop: Sendable {
    private struct Inbox {
        var starts: [(TransferHandle, HTTPRequest, any TransferSink)] = []
        var cancels: [TransferID] = []
        var resumes: [TransferID] = []
        var stopping = false
        var nextID: UInt64 = 1
    }

    /// Loop-thread state. Touched only by the loop thread (see `run`), hence the unchecked box.
    private final class LoopState: @unchecked Sendable {
        var active: [TransferID: CurlTransfer] = [:]
        var byHandle: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    }

    /// The multi handle; used by other threads only for `curl_multi_wakeup`, which libcurl allows.
    private nonisolated(unsafe) let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private let state = LoopState()
    private let trust: TrustStore
    private let userAgent: String
    private let finished = Mutex<Bool>(false)
    private let doneCondition = NSCondition()

    init(trust: TrustStore, userAgent: String, maxConnectionsPerHost: Int) throws(HTTPClientError) {
        guard curlGlobalInit else { throw HTTPClientError(.other, "curl_global_init failed") }
        guard let multi = curl_multi_init() else { throw HTTPClientError(.other, "curl_multi_init failed") }
        self.multi = multi
        self.trust = trust
        self.userAgent = userAgent
        _ = CCurlShim_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        if maxConnectionsPerHost > 0 {
            _ = CCurlShim_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        }
        let thread = Thread { [self] in self.run() }
        thread.name = "wharf-curl-loop"
        thread.start()
    }

    // MARK: Any thread

    func makeHandle() -> TransferHandle {
        inbox.withLock { inbox in
            defer { inbox.nextID += 1 }
            return TransferHandle(id: TransferID(value: inbox.nextID))
        }
    }

    func start(_ handle: TransferHandle, _ request: HTTPRequest, sink: any TransferSink) {
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopping else { return false }
            inbox.starts.append((handle, request, sink))
            return true
        }
        if accepted {
            curl_multi_wakeup(multi)
        } else {
            sink.finished(.failure(HTTPClientError(.shutdown, "the HTTP client was shut down")))
        }
    }

    /// Cancels a transfer whether or not the loop has begun it yet (the flag closes that race).
    func cancel(_ handle: TransferHandle) {
        handle.markCancelled()
        inbox.withLock { $0.cancels.append(handle.id) }
        curl_multi_wakeup(multi)
    }

    /// Asks the loop to unpause a transfer its sink paused; harmless if it is not paused.
    func resume(_ id: TransferID) {
        inbox.withLock { $0.resumes.append(id) }
        curl_multi_wakeup(multi)
    }

    /// Fails every transfer with `.shutdown`, stops the thread and waits for it.
    func shutdown() {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        if first { curl_multi_wakeup(multi) }
        doneCondition.lock()
        while !finished.withLock({ $0 }) { doneCondition.wait() }
        doneCondition.unlock()
    }

    // MARK: Loop thread

    private func run() {
        var running: Int32 = 0
        while true {
            let (starts, cancels, resumes, stopping) = inbox.withLock { inbox in
                defer { inbox.starts = []; inbox.cancels = []; inbox.resumes = [] }
                return (inbox.starts, inbox.cancels, inbox.resumes, inbox.stopping)
            }
            for (id, request, sink) in starts { begin(id, request, sink) }
            for id in cancels { abort(id, HTTPClientError(.cancelled, "the transfer was cancelled")) }
            for id in resumes { unpause(id) }
            if stopping { break }

            curl_multi_perform(multi, &running)
            readFinished()
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for id in Array(state.active.keys) { abort(id, HTTPClientError(.shutdown, "the HTTP client was shut down")) }
        let late = inbox.withLock { inbox in defer { inbox.starts = [] }; return inbox.starts }
        for (_, _, sink) in late { sink.finished(.failure(HTTPClientError(.shutdown, "the HTTP client was shut down"))) }
        curl_multi_cleanup(multi)
        doneCondition.lock()
        finished.withLock { $0 = true }
        doneCondition.broadcast()
        doneCondition.unlock()
    }

    private func begin(_ handle: TransferHandle, _ request: HTTPRequest, _ sink: any TransferSink) {
        if handle.isCancelled {
            sink.finished(.failure(HTTPClientError(.cancelled, "the transfer was cancelled")))
            return
        }
        let transfer = CurlTransfer(id: handle.id, request: request, sink: sink)
        state.active[handle.id] = transfer
        attach(transfer)
    }

    private func attach(_ transfer: CurlTransfer) {
        do throws(HTTPClientError) {
            let easy = try transfer.makeHandle(trust: trust, userAgent: userAgent)
            state.byHandle[easy] = transfer
            let code = curl_multi_add_handle(multi, easy)
            guard code == CURLM_OK else {
                throw HTTPClientError(.other, "curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))")
            }
        } catch {
            complete(transfer, .failure(error))
        }
    }

    private func detach(_ transfer: CurlTransfer) {
        if let easy = transfer.easy {
            curl_multi_remove_handle(multi, easy)
            state.byHandle[easy] = nil
        }
        transfer.releaseHandle()
    }

    private func complete(_ transfer: CurlTransfer, _ result: Result<TransferSummary, HTTPClientError>) {
        detach(transfer)
        state.active[transfer.id] = nil
        transfer.sink.finished(result)
    }

    private func abort(_ id: TransferID, _ error: HTTPClientError) {
        // Unknown: finished already, or not begun yet (then `begin` sees the handle's flag).
        guard let transfer = state.active[id] else { return }
        complete(transfer, .failure(error))
    }

    private func unpause(_ id: TransferID) {
        guard let transfer = state.active[id], transfer.isPaused, let easy = transfer.easy else { return }
        transfer.isPaused = false
        // May call the write callback (with the chunk held back) before it returns.
        curl_easy_pause(easy, CCurlShim_PAUSE_CONT)
    }

    private func readFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard CCurlShim_msg_is_done(message) == 1, let easy = CCurlShim_msg_easy_handle(message),
                  let transfer = state.byHandle[easy] else { continue }
            let code = CCurlShim_msg_result(message)
            if code != CURLE_OK {
                complete(transfer, .failure(transfer.error(for: code)))
                continue
            }
            do throws(HTTPClientError) {
                if try transfer.prepareRedirect() {
                    detach(transfer)
                    attach(transfer)
                    continue
                }
                if let summary = transfer.summary() {
                    complete(transfer, .success(summary))
                } else {
                    complete(transfer, .failure(HTTPClientError(.transfer, "\(transfer.request.url): no response")))
                }
            } catch {
                complete(transfer, .failure(error))
            }
        }
    }
}

/// Names one transfer to the loop from any thread, and remembers a cancellation that
/// arrives before the loop has begun the transfer.
final class TransferHandle: Sendable {
    let id: TransferID
    private let cancelled = Mutex(false)
    init(id: TransferID) { self.id = id }
    func markCancelled() { cancelled.withLock { $0 = true } }
    var isCancelled: Bool { cancelled.withLock { $0 } }
}
