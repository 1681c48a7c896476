import MetricsTestKit
import Synchronization
import NIOCore
import NIOHTTP1
import Testing
@testable import Server

/// Shared state for tasks in a test (a `Mutex` itself cannot be captured).
final class Shared<Value: Sendable>: Sendable {
    let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { state.withLock(body) }
}

@Suite(.timeLimit(.minutes(1))) struct RequestLimiterTests {
    /// Polls until `condition` holds: queued requests are other tasks, so wait for them to arrive.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<2000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    @Test func zeroMaxRunningAdmitsEverything() async {
        let limiter = RequestLimiter(.init(maxRunning: 0, maxInQueue: 0), kind: "read", factory: TestMetrics())
        for _ in 0..<100 { #expect(await limiter.acquire() == nil) }
        #expect(RequestLimits(read: .init(), write: .init()).isUnlimited)
    }

    @Test func withoutAQueueRequestsOverMaxRunningAreRefusedAtOnce() async throws {
        let metrics = TestMetrics()
        let limiter = RequestLimiter(.init(maxRunning: 2, maxInQueue: 0), kind: "read", factory: metrics)
        #expect(await limiter.acquire() == nil)
        #expect(await limiter.acquire() == nil)
        #expect(await limiter.acquire() == .queueFull)
        #expect(await limiter.acquire() == .queueFull)
        #expect(limiter.counts == (2, 0))
        limiter.release()
        #expect(await limiter.acquire() == nil)
        let refused = try metrics.expectCounter("wharf_request_limiter_rejections_total", [("kind", "read"), ("reason", "queue_full")])
        #expect(refused.totalValue == 2)
        #expect(try metrics.expectGauge("wharf_request_limiter_running", [("kind", "read")]).lastValue == 2)
    }

    @Test func queuedRequestsGetFreedSlotsFirstComeFirstServed() async throws {
        let metrics = TestMetrics()
        let limiter = RequestLimiter(.init(maxRunning: 1, maxInQueue: 2), kind: "write", factory: metrics)
        #expect(await limiter.acquire() == nil)
        let order = Shared<[Int]>([])
        let first = Task {
            let rejection = await limiter.acquire()
            order.withLock { $0.append(1) }
            return rejection
        }
        try await eventually { limiter.counts.queued == 1 }
        let second = Task {
            let rejection = await limiter.acquire()
            order.withLock { $0.append(2) }
            return rejection
        }
        try await eventually { limiter.counts.queued == 2 }
        #expect(try metrics.expectGauge("wharf_request_limiter_queue_depth", [("kind", "write")]).lastValue == 2)
        // The queue is full: a third waits nowhere.
        #expect(await limiter.acquire() == .queueFull)

        limiter.release()
        #expect(await first.value == nil)
        #expect(limiter.counts == (1, 1), "the slot passed to the first in line, not freed")
        limiter.release()
        #expect(await second.value == nil)
        #expect(order.withLock { $0 } == [1, 2])
        limiter.release()
        #expect(limiter.counts == (0, 0))
        #expect(try metrics.expectGauge("wharf_request_limiter_queue_depth", [("kind", "write")]).lastValue == 0)
    }

    @Test func aQueuedRequestGivesUpAfterMaxWaitInQueue() async throws {
        let metrics = TestMetrics()
        let limiter = RequestLimiter(.init(maxRunning: 1, maxInQueue: 1, maxWaitInQueue: .milliseconds(150)), kind: "read", factory: metrics)
        #expect(await limiter.acquire() == nil)
        let started = ContinuousClock.now
        #expect(await limiter.acquire() == .waitTimeout)
        #expect(ContinuousClock.now - started >= .milliseconds(150))
        #expect(limiter.counts == (1, 0))
        let timedOut = try metrics.expectCounter("wharf_request_limiter_rejections_total", [("kind", "read"), ("reason", "wait_timeout")])
        #expect(timedOut.totalValue == 1)
        // The slot that comes free goes to a new request, not to the one that left.
        limiter.release()
        #expect(await limiter.acquire() == nil)
    }

    @Test func aRequestThatGetsItsSlotInTimeIsAdmitted() async throws {
        let limiter = RequestLimiter(.init(maxRunning: 1, maxInQueue: 1, maxWaitInQueue: .seconds(10)), kind: "read", factory: TestMetrics())
        #expect(await limiter.acquire() == nil)
        let waiting = Task { await limiter.acquire() }
        try await eventually { limiter.counts.queued == 1 }
        limiter.release()
        #expect(await waiting.value == nil)
        #expect(limiter.counts == (1, 0))
    }

    @Test func cancellingAQueuedRequestTakesItOutOfTheQueue() async throws {
        let limiter = RequestLimiter(.init(maxRunning: 1, maxInQueue: 1), kind: "read", factory: TestMetrics())
        #expect(await limiter.acquire() == nil)
        let waiting = Task { await limiter.acquire() }
        try await eventually { limiter.counts.queued == 1 }
        waiting.cancel()
        #expect(await waiting.value == .cancelled)
        #expect(limiter.counts == (1, 0))
        limiter.release()
        #expect(limiter.counts == (0, 0))
    }

    @Test func manyConcurrentRequestsNeverExceedMaxRunning() async {
        let limiter = RequestLimiter(.init(maxRunning: 3, maxInQueue: 1000), kind: "read", factory: TestMetrics())
        let peak = Shared((now: 0, max: 0))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    guard await limiter.acquire() == nil else { return }
                    peak.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
                    await Task.yield()
                    peak.withLock { $0.now -= 1 }
                    limiter.release()
                }
            }
        }
        #expect(peak.withLock { $0.max } <= 3)
        #expect(limiter.counts == (0, 0))
    }

    @Test func readsAreGetAndHeadEverythingElseIsAWrite() {
        let limits = RequestLimits(read: .init(maxRunning: 1), write: .init(maxRunning: 2), factory: TestMetrics())
        #expect(limits.limiter(for: .GET)?.limits.maxRunning == 1)
        #expect(limits.limiter(for: .HEAD)?.limits.maxRunning == 1)
        for method in [.PUT, .POST, .PATCH, .DELETE, .OPTIONS] as [NIOHTTP1.HTTPMethod] {
            #expect(limits.limiter(for: method)?.limits.maxRunning == 2)
        }
        let readsOnly = RequestLimits(read: .init(maxRunning: 1), write: .init(), factory: TestMetrics())
        #expect(readsOnly.limiter(for: .PUT) == nil)
    }

    @Test(arguments: [
        (Duration.zero, "1"), (.milliseconds(300), "1"), (.seconds(2), "2"), (.milliseconds(2500), "3"), (.seconds(120), "60"),
    ])
    func refusalIs429TooManyRequestsWithRetryAfter(wait: Duration, retryAfter: String) throws {
        let response = RequestLimits.refusal(.queueFull, limits: .init(maxRunning: 4, maxWaitInQueue: wait), method: .GET)
        #expect(response.status.code == 429)
        #expect(response.headers["Retry-After"] == [retryAfter])
        guard case .buffer(let body) = response.body else { Issue.record("no body"); return }
        #expect(String(buffer: body).contains(#""code":"TOOMANYREQUESTS""#))
    }
}
