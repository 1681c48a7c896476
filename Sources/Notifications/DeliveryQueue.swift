/// What one endpoint's sender does next: the queue, retry and backoff rules with no clock,
/// network or lock of their own, so they can be tested step by step.
///
/// - Events are delivered one at a time, oldest first; a failed one is retried before any other.
/// - Retries follow Distribution's breaker: right away until `threshold` failures in a row,
///   then each retry waits `backoff`; a success resets the count.
/// - At most `capacity` events wait (besides the one being sent): a new event pushes out the
///   oldest waiting one, which is counted in `dropped`.
struct DeliveryQueue<Item> {
    enum Step {
        /// Send this item, then report `delivered()` or `failed(at:)`.
        case deliver(Item)
        /// Backing off: nothing may be sent before this instant.
        case wait(until: ContinuousClock.Instant)
        /// Nothing to send.
        case idle
    }

    let capacity: Int
    let threshold: Int
    let backoff: Duration
    private(set) var waiting: [Item] = []
    /// The item handed out by `next` and not yet reported on.
    private(set) var inFlight: Item?
    private(set) var consecutiveFailures = 0
    private(set) var retryAt: ContinuousClock.Instant?
    /// Events pushed out because the queue was full, since the start.
    private(set) var dropped = 0

    init(capacity: Int, threshold: Int, backoff: Duration) {
        self.capacity = max(1, capacity)
        self.threshold = max(1, threshold)
        self.backoff = backoff
    }

    /// True when nothing waits and nothing is being sent.
    var isEmpty: Bool { waiting.isEmpty && inFlight == nil }

    /// Queues `item`. - Returns: true when the oldest waiting item was dropped to make room.
    @discardableResult
    mutating func enqueue(_ item: Item) -> Bool {
        waiting.append(item)
        guard waiting.count > capacity else { return false }
        waiting.removeFirst()
        dropped += 1
        return true
    }

    mutating func next(now: ContinuousClock.Instant) -> Step {
        precondition(inFlight == nil, "next() while an item is being sent")
        if let retryAt, now < retryAt { return .wait(until: retryAt) }
        guard !waiting.isEmpty else { return .idle }
        let item = waiting.removeFirst()
        inFlight = item
        return .deliver(item)
    }

    mutating func delivered() {
        inFlight = nil
        consecutiveFailures = 0
        retryAt = nil
    }

    /// The item handed out failed: it goes back to the front, unless the queue filled up
    /// meanwhile (then it is the oldest, and dropped).
    mutating func failed(at now: ContinuousClock.Instant) {
        if let item = inFlight {
            if waiting.count < capacity {
                waiting.insert(item, at: 0)
            } else {
                dropped += 1
            }
        }
        inFlight = nil
        consecutiveFailures += 1
        retryAt = consecutiveFailures >= threshold ? now + backoff : nil
    }
}
