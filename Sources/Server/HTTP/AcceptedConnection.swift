import NIOCore
import NIOHTTP1
import Synchronization

/// A connection on its way from the accept loop to the task that serves it.
///
/// When the listening socket closes (a drain) while a connection is still being set up, NIO
/// drops that connection's `NIOAsyncChannel` unserved, and NIO traps when an async channel's
/// writer goes away unfinished. So a connection nobody took is closed here, properly.
final class AcceptedConnection: Sendable {
    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let flushes: ResponseFlushes
    /// Nil for a connection over `http.maxconnections`, which is only answered 503.
    let watchdog: ConnectionWatchdog?
    private let taken = Atomic(false)

    init(channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, flushes: ResponseFlushes,
         watchdog: ConnectionWatchdog?) {
        self.channel = channel
        self.flushes = flushes
        self.watchdog = watchdog
    }

    /// The serving task takes the connection: it will close it with `executeThenClose`.
    func take() -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart> {
        taken.store(true, ordering: .relaxed)
        return channel
    }

    deinit {
        guard !taken.load(ordering: .relaxed) else { return }
        // Only on the drop described above; `executeThenClose` finishes the writer and closes.
        let channel = self.channel
        Task { try? await channel.executeThenClose { _, _ in } }
    }
}
