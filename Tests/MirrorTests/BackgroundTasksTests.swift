import Mirror
import Synchronization
import Testing

/// The two ways a shutdown ends background work: wait for it (`finish`), or cancel it.
@Suite(.timeLimit(.minutes(1))) struct BackgroundTasksTests {
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    @Test func finishWaitsForRunningWorkAndRefusesNewWork() async {
        let background = BackgroundTasks()
        let log = Log()
        let running = Task { await background.run() }
        #expect(background.submit {
            try? await Task.sleep(for: .milliseconds(300))
            log.add(Task.isCancelled ? "cancelled" : "done")
        })
        background.finish()
        #expect(!background.submit { log.add("late") })
        await running.value
        #expect(log.all == ["done"])
    }

    @Test func cancellingRunCancelsTheWorkAndWaitsForItToEnd() async {
        let background = BackgroundTasks()
        let log = Log()
        let running = Task { await background.run() }
        let started = ContinuousClock.now
        for index in 0..<3 {
            #expect(background.submit {
                // Cleanup after cancellation still runs before `run()` returns.
                if (try? await Task.sleep(for: .seconds(60))) == nil { log.add("cleaned \(index)") }
            })
        }
        try? await Task.sleep(for: .milliseconds(100))
        running.cancel()
        await running.value
        // Well short of the jobs' 60 s (the bound is loose: other suites may hold the test pool's threads).
        #expect(ContinuousClock.now - started < .seconds(45))
        #expect(Set(log.all) == ["cleaned 0", "cleaned 1", "cleaned 2"])
        #expect(!background.submit { log.add("late") })
    }

    @Test func workSubmittedBeforeCancellationStillRuns() async {
        // A fill that never runs would leave its readers waiting: every accepted job must run.
        let background = BackgroundTasks()
        let log = Log()
        for index in 0..<3 {
            #expect(background.submit { log.add("ran \(index)") })
        }
        let running = Task { await background.run() }
        running.cancel()
        await running.value
        #expect(Set(log.all) == ["ran 0", "ran 1", "ran 2"])
    }
}
