import NIOCore
import NIOHTTP1
import Synchronization

/// Knows when the responses written on a connection have left the channel.
///
/// The async outbound writer returns once a part is queued, long before a large file has been
/// sent: closing the channel then would cut the body short (NIO fails pending writes on close).
/// So a connection that is about to close waits here first, and a drain closes a connection
/// that looks idle only once its last response is out.
///
/// The connection's task counts a response with `willWrite()` before writing it; the count
/// drops when the response's `.end` has been written to the socket, or when the channel closes.
final class ResponseFlushes: ChannelDuplexHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private struct State {
        var unwritten = 0
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closeWhenWritten: (any Channel)?

        /// Waiters and a pending close, taken when nothing is left to write.
        mutating func takeIfWritten() -> ([CheckedContinuation<Void, Never>], (any Channel)?) {
            guard unwritten == 0 || closed else { return ([], nil) }
            defer { waiters = []; closeWhenWritten = nil }
            return (waiters, closeWhenWritten)
        }
    }

    private let state = Mutex(State())

    /// A response is about to be written (called by the connection's task).
    func willWrite() {
        state.withLock { $0.unwritten += 1 }
    }

    /// True while a counted response is still going out.
    var hasUnwritten: Bool {
        state.withLock { $0.unwritten > 0 && !$0.closed }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.whenComplete { [self] _ in
            finish { $0.unwritten = max(0, $0.unwritten - 1) }
        }
        context.write(data, promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish { $0.closed = true }
        context.fireChannelInactive()
    }

    private func finish(_ update: (inout State) -> Void) {
        let (waiters, closing) = state.withLock { state in
            update(&state)
            return state.takeIfWritten()
        }
        for waiter in waiters { waiter.resume() }
        closing?.close(promise: nil)
    }

    /// Closes `channel` now if every response has been written, else right after the last one is.
    func closeWhenWritten(_ channel: any Channel) {
        let now = state.withLock { state -> Bool in
            guard state.unwritten > 0 && !state.closed else { return true }
            state.closeWhenWritten = channel
            return false
        }
        if now { channel.close(promise: nil) }
    }

    /// Returns once every counted response has been handed to the socket, or the channel closed.
    func waitUntilWritten() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.unwritten > 0 && !state.closed else { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
