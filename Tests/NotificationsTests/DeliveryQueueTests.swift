@testable import Notifications
import Testing

/// The queue's rules, stepped by hand with explicit instants: no clock, no network.
@Suite struct DeliveryQueueTests {
    let t0 = ContinuousClock.now

    func deliverable<Item>(_ step: DeliveryQueue<Item>.Step) -> Item? {
        if case .deliver(let item) = step { return item }
        return nil
    }

    @Test func deliversOldestFirstAndIdlesWhenEmpty() {
        var queue = DeliveryQueue<Int>(capacity: 10, threshold: 3, backoff: .seconds(1))
        if case .idle = queue.next(now: t0) {} else { Issue.record("an empty queue has something to send") }
        queue.enqueue(1)
        queue.enqueue(2)
        #expect(deliverable(queue.next(now: t0)) == 1)
        #expect(queue.inFlight == 1 && !queue.isEmpty)
        queue.delivered()
        #expect(deliverable(queue.next(now: t0)) == 2)
        queue.delivered()
        #expect(queue.isEmpty)
    }

    @Test func retriesAtOnceUntilThresholdThenBacksOff() {
        var queue = DeliveryQueue<Int>(capacity: 10, threshold: 3, backoff: .seconds(5))
        queue.enqueue(7)
        queue.enqueue(8)
        // Failures 1 and 2: the same event again, right away, before the next one.
        for failure in 1...2 {
            #expect(deliverable(queue.next(now: t0)) == 7)
            queue.failed(at: t0)
            #expect(queue.consecutiveFailures == failure)
            #expect(queue.retryAt == nil)
        }
        // Failure 3 reaches the threshold: wait `backoff` before the retry.
        #expect(deliverable(queue.next(now: t0)) == 7)
        queue.failed(at: t0)
        guard case .wait(let until) = queue.next(now: t0 + .seconds(1)) else {
            Issue.record("no backoff after the threshold")
            return
        }
        #expect(until == t0 + .seconds(5))
        // Past the threshold every further failure waits again.
        #expect(deliverable(queue.next(now: t0 + .seconds(5))) == 7)
        queue.failed(at: t0 + .seconds(5))
        #expect(queue.retryAt == t0 + .seconds(10))
        // A success resets the breaker: the next event goes at once.
        #expect(deliverable(queue.next(now: t0 + .seconds(10))) == 7)
        queue.delivered()
        #expect(queue.consecutiveFailures == 0 && queue.retryAt == nil)
        #expect(deliverable(queue.next(now: t0 + .seconds(10))) == 8)
    }

    @Test func aFullQueueDropsTheOldestAndCountsIt() {
        var queue = DeliveryQueue<Int>(capacity: 3, threshold: 1, backoff: .seconds(1))
        let dropsOldest = (1...5).map { queue.enqueue($0) }
        #expect(dropsOldest == [false, false, false, true, true])
        #expect(queue.dropped == 2)
        #expect(queue.waiting == [3, 4, 5])
    }

    @Test func theEventBeingSentIsNotDroppedWhileItIsSent() {
        var queue = DeliveryQueue<Int>(capacity: 2, threshold: 1, backoff: .milliseconds(10))
        queue.enqueue(1)
        #expect(deliverable(queue.next(now: t0)) == 1)
        // While 1 is in flight, the two waiting places fill and a third pushes out 2.
        queue.enqueue(2)
        queue.enqueue(3)
        let droppedTwo = queue.enqueue(4)
        #expect(droppedTwo)
        #expect(queue.waiting == [3, 4] && queue.inFlight == 1)
        // 1 fails: it is now the oldest of a full queue, so it is the one dropped.
        queue.failed(at: t0)
        #expect(queue.waiting == [3, 4] && queue.dropped == 2)
        // With room, a failed event goes back to the front.
        #expect(deliverable(queue.next(now: t0 + .milliseconds(10))) == 3)
        queue.failed(at: t0 + .milliseconds(10))
        #expect(queue.waiting == [3, 4])
    }
}
