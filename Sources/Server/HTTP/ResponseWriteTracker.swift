import NIOCore
import NIOHTTP1
import Synchronization

/// How many responses of one connection the channel has finished writing to the socket.
///
/// The async outbound writer returns once a response is queued, not sent; a request that must
/// hold its limiter slot until its body is out waits here.
final class ResponseWrites: Sendable {
    private struct State {
        var written = 0
        var closed = false
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Returns once `count` responses have been written, or the connection has closed.
    func waitUntilWritten(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.closed || state.written >= count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    fileprivate func responseWritten() {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.written += 1
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.count <= state.written else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    fileprivate func connectionClosed() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// Counts each response's `.end` once the channel has written it (its write promise completed,
/// so every byte before it is in the socket), into `ResponseWrites`.
final class ResponseWriteTracker: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let writes: ResponseWrites

    init(writes: ResponseWrites) {
        self.writes = writes
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.whenComplete { [writes] _ in writes.responseWritten() }
        context.write(data, promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        writes.connectionClosed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        writes.connectionClosed()
    }
}
