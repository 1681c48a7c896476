import Logging
import Synchronization

/// One endpoint's queue and the loop that empties it, one envelope at a time.
final class EndpointSender: Sendable {
    private struct State {
        var queue: DeliveryQueue<Event>
        /// Set while deliveries fail, so the log says so once per outage, not per attempt.
        var failing = false
        var lastDropWarning: ContinuousClock.Instant?
    }

    let configuration: EndpointConfiguration
    private let state: Mutex<State>
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// A full queue is reported at most this often.
    static let dropWarningInterval: Duration = .seconds(10)

    init(configuration: EndpointConfiguration) {
        self.configuration = configuration
        state = Mutex(State(queue: DeliveryQueue(capacity: configuration.queueCapacity, threshold: configuration.threshold,
                                                 backoff: configuration.backoff)))
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `event` and wakes the loop; never waits.
    func enqueue(_ event: Event, logger: Logger) {
        let now = ContinuousClock.now
        let report = state.withLock { state -> Int? in
            guard state.queue.enqueue(event) else { return nil }
            if let last = state.lastDropWarning, now - last < Self.dropWarningInterval { return nil }
            state.lastDropWarning = now
            return state.queue.dropped
        }
        if let dropped = report {
            logger.warning("notification queue full; the oldest events are dropped", metadata: [
                "endpoint": "\(configuration.name)", "queue.capacity": "\(configuration.queueCapacity)", "dropped.total": "\(dropped)",
            ])
        }
        wake.yield()
    }

    /// Events waiting or being sent.
    var pending: Int { state.withLock { $0.queue.waiting.count + ($0.queue.inFlight == nil ? 0 : 1) } }
    /// Events dropped because the queue was full.
    var dropped: Int { state.withLock { $0.queue.dropped } }

    /// Delivers until the task is cancelled.
    func run(transport: any EventTransport, logger: Logger) async {
        var wakeups = self.wakeups.makeAsyncIterator()
        while !Task.isCancelled {
            switch state.withLock({ $0.queue.next(now: .now) }) {
            case .idle:
                // Ends (nil) when the task is cancelled.
                guard await wakeups.next() != nil else { return }
            case .wait(let until):
                try? await Task.sleep(until: until, clock: .continuous)
            case .deliver(let event):
                await deliver(event, transport: transport, logger: logger)
            }
        }
    }

    private func deliver(_ event: Event, transport: any EventTransport, logger: Logger) async {
        let metadata: Logger.Metadata = ["endpoint": "\(configuration.name)", "event.id": "\(event.id)", "event.action": "\(event.action)"]
        let body: [UInt8]
        do {
            body = try Envelope(events: [event]).encoded()
        } catch {
            // Cannot happen with these types; never retry what can never be sent.
            logger.error("notification event could not be encoded; dropped", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            state.withLock { $0.queue.delivered() }
            return
        }
        do {
            try await transport.send(body, to: configuration)
            let recovered = state.withLock { state -> Bool in
                state.queue.delivered()
                defer { state.failing = false }
                return state.failing
            }
            if recovered { logger.info("notification endpoint accepts events again", metadata: metadata) }
            logger.debug("notification delivered", metadata: metadata)
        } catch {
            let (firstFailure, failures) = state.withLock { state -> (Bool, Int) in
                state.queue.failed(at: .now)
                defer { state.failing = true }
                return (!state.failing, state.queue.consecutiveFailures)
            }
            let details = metadata.merging(["error": "\(error)", "failures": "\(failures)"]) { $1 }
            if firstFailure {
                logger.warning("notification delivery failed; retrying in the background", metadata: details)
            } else {
                logger.debug("notification delivery failed again", metadata: details)
            }
        }
    }
}
