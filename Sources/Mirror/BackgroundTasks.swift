/// Work that outlives the request that started it (blob fills), run as child tasks of one
/// task group that `run()` owns, instead of as detached tasks nobody waits for.
///
/// Shutdown has two steps: `finish()` takes no new work and lets `run()` return once the
/// running work has ended; cancelling the task that runs `run()` cancels the work itself.
public final class BackgroundTasks: Sendable {
    public typealias Work = @Sendable () async -> Void

    private let jobs: AsyncStream<Work>
    private let submissions: AsyncStream<Work>.Continuation

    public init() {
        (jobs, submissions) = AsyncStream.makeStream()
    }

    /// Starts `work` in the group.
    /// - Returns: false when the group has finished (shutting down): the work was not started.
    public func submit(_ work: @escaping Work) -> Bool {
        if case .enqueued = submissions.yield(work) { return true }
        return false
    }

    /// Runs submitted work until `finish()` was called and every job has ended. Cancelling the
    /// calling task cancels the jobs (they clean up and end) and returns once they have.
    public func run() async {
        await withDiscardingTaskGroup { group in
            // The stream ends on `finish()` or on cancellation.
            for await work in jobs {
                group.addTask { await work() }
            }
        }
    }

    /// No new work from now on; `run()` returns when the running work is done.
    public func finish() {
        submissions.finish()
    }
}
