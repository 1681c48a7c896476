import Metrics
import NIOHTTP1
import OCI
import Synchronization

/// At most `maxRunning` requests at once; up to `maxInQueue` more wait, each at most
/// `maxWaitInQueue`; the rest are refused. OpenShift's registry limiter, one per class of
/// request (reads, writes).
///
/// A request that waits in the queue gets the slot of the request that ends (first come,
/// first served); a slot is never free while someone is queued.
public final class RequestLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Requests handled at once; 0 means no limit.
        public var maxRunning = 0
        /// Requests waiting for a slot; 0 means none wait: over `maxRunning`, refuse at once.
        public var maxInQueue = 0
        /// The longest a request waits in the queue; zero means as long as it takes.
        public var maxWaitInQueue: Duration = .zero

        public init(maxRunning: Int = 0, maxInQueue: Int = 0, maxWaitInQueue: Duration = .zero) {
            self.maxRunning = maxRunning
            self.maxInQueue = maxInQueue
            self.maxWaitInQueue = maxWaitInQueue
        }

        public var isUnlimited: Bool { maxRunning <= 0 }
    }

    /// Why a request was refused: a closed set, used as a metric label.
    public enum Rejection: String, Sendable, CaseIterable {
        /// Every slot taken and the queue full (or no queue).
        case queueFull = "queue_full"
        /// Waited `maxWaitInQueue` without getting a slot.
        case waitTimeout = "wait_timeout"
        /// The request's task was cancelled while it waited (server shutdown).
        case cancelled
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Rejection?, Never>
        var timer: Task<Void, Never>?
    }

    private struct State {
        var running = 0
        var queue: [Waiter] = []
        var nextID: UInt64 = 0
    }

    public let limits: Limits
    private let state = Mutex(State())
    private let queueDepth: Gauge
    private let runningGauge: Gauge
    private let rejections: [Rejection: Counter]

    /// - Parameter kind: `read` or `write`, the metrics' `kind` label.
    public init(_ limits: Limits, kind: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.limits = limits
        let dimensions = [("kind", kind)]
        queueDepth = Gauge(label: "wharf_request_limiter_queue_depth", dimensions: dimensions, factory: factory)
        runningGauge = Gauge(label: "wharf_request_limiter_running", dimensions: dimensions, factory: factory)
        var rejections: [Rejection: Counter] = [:]
        for reason in Rejection.allCases {
            rejections[reason] = Counter(label: "wharf_request_limiter_rejections_total",
                                         dimensions: dimensions + [("reason", reason.rawValue)], factory: factory)
        }
        self.rejections = rejections
        queueDepth.record(0)
        runningGauge.record(0)
    }

    /// Waits for a slot.
    /// - Returns: nil once the request holds a slot (call `release()` when it has ended), or
    ///   why it was refused (it holds nothing then).
    public func acquire() async -> Rejection? {
        let id: UInt64
        switch admitOrQueueID() {
        case .admitted: return nil
        case .refused: return refuse(.queueFull)
        case .queue(let assigned): id = assigned
        }
        let rejection = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Rejection?, Never>) in
                enqueue(id, continuation)
            }
        } onCancel: {
            expire(id, reason: .cancelled)
        }
        if let rejection { return refuse(rejection) }
        return nil
    }

    /// Ends a request that `acquire()` admitted: its slot goes to the first one waiting.
    public func release() {
        let next = state.withLock { state -> Waiter? in
            guard !state.queue.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.queue.removeFirst()
        }
        if let next {
            next.timer?.cancel()
            next.continuation.resume(returning: nil)
        }
        publish()
    }

    /// Requests holding a slot, and requests waiting for one.
    public var counts: (running: Int, queued: Int) {
        state.withLock { ($0.running, $0.queue.count) }
    }

    // MARK: Internals

    private enum FirstLook {
        case admitted
        case refused
        case queue(UInt64)
    }

    private func admitOrQueueID() -> FirstLook {
        guard !limits.isUnlimited else { return .admitted }
        let look = state.withLock { state -> FirstLook in
            if state.running < limits.maxRunning && state.queue.isEmpty {
                state.running += 1
                return .admitted
            }
            // The queue's room is checked here and again on entry; a request counted here
            // but not yet queued is rare and harmless.
            guard state.queue.count < limits.maxInQueue else { return .refused }
            state.nextID += 1
            return .queue(state.nextID)
        }
        if case .admitted = look { publish() }
        return look
    }

    private func enqueue(_ id: UInt64, _ continuation: CheckedContinuation<Rejection?, Never>) {
        enum Next { case waiting, admitted, full, cancelled }
        let next = state.withLock { state -> Next in
            if Task.isCancelled { return .cancelled }
            // A slot may have come free since the first look.
            if state.running < limits.maxRunning && state.queue.isEmpty {
                state.running += 1
                return .admitted
            }
            guard state.queue.count < limits.maxInQueue else { return .full }
            state.queue.append(Waiter(id: id, continuation: continuation))
            return .waiting
        }
        switch next {
        case .admitted:
            continuation.resume(returning: nil)
        case .full:
            continuation.resume(returning: .queueFull)
        case .cancelled:
            continuation.resume(returning: .cancelled)
        case .waiting:
            if limits.maxWaitInQueue > .zero {
                let wait = limits.maxWaitInQueue
                let timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: wait)) != nil else { return }
                    self?.expire(id, reason: .waitTimeout)
                }
                state.withLock { state in
                    if let index = state.queue.firstIndex(where: { $0.id == id }) {
                        state.queue[index].timer = timer
                    } else {
                        timer.cancel()
                    }
                }
            }
        }
        publish()
    }

    /// Takes a waiter out of the queue (timed out, or cancelled), if it is still there.
    private func expire(_ id: UInt64, reason: Rejection) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
            return state.queue.remove(at: index)
        }
        guard let waiter else { return }
        if reason != .waitTimeout { waiter.timer?.cancel() }
        waiter.continuation.resume(returning: reason)
        publish()
    }

    private func refuse(_ reason: Rejection) -> Rejection {
        rejections[reason]?.increment()
        return reason
    }

    private func publish() {
        let (running, queued) = counts
        runningGauge.record(running)
        queueDepth.record(queued)
    }
}

/// The read and write limiters, and the answer to a refused request.
public struct RequestLimits: Sendable {
    public let read: RequestLimiter?
    public let write: RequestLimiter?

    /// Nil limiters for classes without a limit, so those requests never take a lock.
    public init(read: RequestLimiter.Limits, write: RequestLimiter.Limits, factory: any MetricsFactory = MetricsSystem.factory) {
        self.read = read.isUnlimited ? nil : RequestLimiter(read, kind: "read", factory: factory)
        self.write = write.isUnlimited ? nil : RequestLimiter(write, kind: "write", factory: factory)
    }

    public var isUnlimited: Bool { read == nil && write == nil }

    /// GET and HEAD are reads; every other method is a write.
    public func limiter(for method: HTTPMethod) -> RequestLimiter? {
        method == .GET || method == .HEAD ? read : write
    }

    /// 429 `TOOMANYREQUESTS`, with `Retry-After` in seconds: the queue's wait, at least 1 s
    /// and at most a minute, so that a client comes back about when a slot may be free.
    static func refusal(_ reason: RequestLimiter.Rejection, limits: RequestLimiter.Limits, method: HTTPMethod) -> HTTPResponse {
        let wait = limits.maxWaitInQueue.components
        let seconds = min(60, max(1, wait.seconds + (wait.attoseconds > 0 ? 1 : 0)))
        let message = switch reason {
        case .queueFull: "too many requests: all \(limits.maxRunning) slots are busy and the queue is full; try again later"
        case .waitTimeout: "too many requests: waited \(limits.maxWaitInQueue) in the queue without a free slot; try again later"
        case .cancelled: "the request was cancelled while it waited for a slot"
        }
        return RegistryError(.tooManyRequests, message, headers: [("Retry-After", String(seconds))])
            .response(includeBody: method != .HEAD)
    }
}
