import Logging
import NIOCore
import Synchronization

/// How long a client may hold a connection without using it (`http.timeouts`, `http.minbodyrate`).
/// A zero duration or rate turns that check off.
public struct ConnectionTimeouts: Sendable, Equatable {
    /// The whole request head, from its first byte (the TLS handshake's, with TLS) to its end.
    public var header: Duration = .seconds(30)
    /// A connection with no request under way and nothing received yet (before the first
    /// request, and between kept-alive requests once the last response is out).
    public var idle: Duration = .seconds(120)
    /// The window over which a request body must arrive at `minimumBodyRate`.
    public var body: Duration = .seconds(30)
    /// Bytes per second a body must average over each `body` window, counting only the time
    /// Wharf waits for it (not the time it spends storing what it got).
    public var minimumBodyRate: Int64 = 1024

    public init(header: Duration = .seconds(30), idle: Duration = .seconds(120), body: Duration = .seconds(30),
                minimumBodyRate: Int64 = 1024) {
        self.header = header
        self.idle = idle
        self.body = body
        self.minimumBodyRate = minimumBodyRate
    }

    var isOff: Bool { header <= .zero && idle <= .zero && (body <= .zero || minimumBodyRate <= 0) }

    /// How often a connection's deadlines are checked: a quarter of the shortest, 50 ms to 1 s.
    var tick: Duration {
        let shortest = [header, idle, body].filter { $0 > .zero }.min() ?? .seconds(1)
        return min(.seconds(1), max(.milliseconds(50), shortest / 4))
    }
}

/// Closes a connection whose client is too slow: a head not complete within `header`, an
/// idle connection past `idle`, a body slower than `minimumBodyRate` (slowloris and friends).
///
/// The connection's task reports where it is (`awaitingHead`, `headReceived`, body waits); a
/// handler at the front of the pipeline reports raw bytes (`bytesArrived`); a timer on the
/// connection's event loop checks every `tick` and closes the channel, which ends the task's
/// reads. A response still being written is never cut by the idle timeout.
final class ConnectionWatchdog: Sendable {
    enum Reason: String, Sendable {
        case header = "header timeout"
        case idle = "idle timeout"
        case body = "request body below the minimum rate"
    }

    private enum Phase {
        /// Waiting for a request head; `firstByte` once any byte of it has arrived.
        case awaitingHead(since: ContinuousClock.Instant, firstByte: ContinuousClock.Instant?)
        /// A request is being handled: only its body waits are timed.
        case request
    }

    private struct State {
        var phase = Phase.awaitingHead(since: .now, firstByte: nil)
        /// Since when the task waits for body bytes, if it does.
        var bodyWaitSince: ContinuousClock.Instant?
        /// Time waited and bytes received in the current body window.
        var windowWaited: Duration = .zero
        var windowBytes: Int64 = 0
        var closed: Reason?
    }

    let timeouts: ConnectionTimeouts
    private let channel: any Channel
    private let flushes: ResponseFlushes
    private let state = Mutex(State())

    init(timeouts: ConnectionTimeouts, channel: any Channel, flushes: ResponseFlushes) {
        self.timeouts = timeouts
        self.channel = channel
        self.flushes = flushes
    }

    /// Checks every `tick` until the channel closes. Call on the channel's event loop.
    func start(logger: Logger) {
        guard !timeouts.isOff else { return }
        let tick = TimeAmount.nanoseconds(Int64(tick: timeouts.tick))
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in
            guard let reason = check(now: .now) else { return }
            logger.info("connection closed", metadata: ["reason": "\(reason.rawValue)",
                                                        "client": "\(channel.remoteAddress?.ipAddress ?? "-")"])
            channel.close(promise: nil)
        }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }

    /// The task waits for the next request head (the previous response may still be going out).
    func awaitingHead() {
        state.withLock { $0.phase = .awaitingHead(since: .now, firstByte: nil) }
    }

    func headReceived() {
        state.withLock { state in
            state.phase = .request
            state.bodyWaitSince = nil
            state.windowWaited = .zero
            state.windowBytes = 0
        }
    }

    /// Bytes came off the socket (before TLS and HTTP decoding).
    func bytesArrived() {
        state.withLock { state in
            if case .awaitingHead(let since, nil) = state.phase { state.phase = .awaitingHead(since: since, firstByte: .now) }
        }
    }

    func bodyWaitBegan() {
        state.withLock { $0.bodyWaitSince = .now }
    }

    func bodyWaitEnded(bytes: Int) {
        let now = ContinuousClock.now
        state.withLock { state in
            if let since = state.bodyWaitSince { state.windowWaited += now - since }
            state.bodyWaitSince = nil
            state.windowBytes += Int64(bytes)
        }
    }

    /// The reason to close now, if any (once).
    func check(now: ContinuousClock.Instant) -> Reason? {
        let writing = flushes.hasUnwritten
        return state.withLock { state -> Reason? in
            guard state.closed == nil else { return nil }
            var reason: Reason?
            switch state.phase {
            case .awaitingHead(_, let firstByte?):
                if timeouts.header > .zero && now - firstByte > timeouts.header { reason = .header }
            case .awaitingHead(let since, nil):
                if writing {
                    // Idle starts once the last response is out.
                    state.phase = .awaitingHead(since: now, firstByte: nil)
                } else if timeouts.idle > .zero && now - since > timeouts.idle {
                    reason = .idle
                }
            case .request:
                guard timeouts.body > .zero, timeouts.minimumBodyRate > 0, let since = state.bodyWaitSince else { break }
                let waited = state.windowWaited + (now - since)
                guard waited >= timeouts.body else { break }
                if Double(state.windowBytes) < Double(timeouts.minimumBodyRate) * waited.seconds {
                    reason = .body
                } else {
                    // A new window starts: earlier speed does not buy a later trickle.
                    state.windowWaited = .zero
                    state.windowBytes = 0
                    state.bodyWaitSince = now
                }
            }
            state.closed = reason
            return reason
        }
    }
}

/// Tells the watchdog when bytes come off the socket; first in the pipeline, so a TLS handshake
/// counts as the start of a request head.
final class InboundBytesWatch: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let watchdog: ConnectionWatchdog

    init(watchdog: ConnectionWatchdog) {
        self.watchdog = watchdog
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        watchdog.bytesArrived()
        context.fireChannelRead(data)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Int64 {
    /// Nanoseconds in `tick`, for NIO's `TimeAmount`.
    init(tick: Duration) {
        let parts = tick.components
        self = parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
