import NIOCore
import Synchronization

/// At most `maximum` connections served at once (`http.maxconnections`; 0: no limit).
final class ConnectionLimit: Sendable {
    let maximum: Int
    private let open = Atomic(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Counts `channel` until it closes. - Returns: false, counting nothing, when full.
    func reserve(for channel: any Channel) -> Bool {
        guard maximum > 0 else { return true }
        while true {
            let current = open.load(ordering: .relaxed)
            guard current < maximum else { return false }
            if open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged { break }
        }
        channel.closeFuture.whenComplete { [self] _ in open.subtract(1, ordering: .relaxed) }
        return true
    }
}

/// The whole pipeline of a connection over `http.maxconnections`: an immediate `503` with
/// `Retry-After` and `Connection: close`, then the connection closes. What the client sends
/// meanwhile is read and dropped for a moment, so the close does not reset the connection
/// under the answer before the client has read it.
final class ConnectionRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let response: String = {
        let body = #"{"errors":[{"code":"UNAVAILABLE","message":"too many connections; try again later","detail":null}]}"#
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Retry-After: 1\r\nDocker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n" + body
    }()

    /// How long the client's request is read and dropped before the connection closes.
    static let linger = TimeAmount.seconds(1)
    private var answered = false

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        refuse(context: context)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    private func refuse(context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let channel = context.channel
        let buffer = channel.allocator.buffer(string: Self.response)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
            channel.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Dropped: the answer is the same whatever was asked.
    }
}
