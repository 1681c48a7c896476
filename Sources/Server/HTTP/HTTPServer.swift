import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Handles one request; gets the body as a stream and must not keep it past returning.
public protocol HTTPHandler: Sendable {
    /// A response for a request refused before it may wait for a request-limit slot (client
    /// auth): nil lets it through to the limiter and `handle`.
    func admit(_ request: HTTPRequest) async -> HTTPResponse?
    func handle(_ request: HTTPRequest, body: RequestBody, logger: Logger) async -> HTTPResponse
}

extension HTTPHandler {
    public func admit(_ request: HTTPRequest) async -> HTTPResponse? { nil }
}

/// An HTTP/1.1 server on SwiftNIO: one task per connection, requests in order, bodies
/// streamed, files sent with `sendfile`.
public struct HTTPServer: Sendable {
    public let host: String
    public let port: Int
    let handler: any HTTPHandler
    let logger: Logger
    let extraHeaders: [(String, String)]
    /// One line per request (Distribution's `log.accesslog`).
    let accessLog: Bool
    /// HTTPS when set (`http.tls`); files are then sent as buffers, since TLS cannot `sendfile`.
    let tls: TLSSettings?
    /// `openshift.requests`: a request holds a slot until its response is written.
    let limits: RequestLimits?
    /// Request counts, durations and cache results; nil when metrics are off.
    let metrics: ServerMetrics?
    /// `http.timeouts` and `http.minbodyrate`: slow clients are cut off.
    let timeouts: ConnectionTimeouts
    /// `http.maxconnections`: connections beyond it get a 503 and are closed; 0 means no limit.
    let maxConnections: Int

    public init(host: String, port: Int, handler: any HTTPHandler, extraHeaders: [(String, String)] = [], accessLog: Bool = true,
                tls: TLSSettings? = nil, limits: RequestLimits? = nil, metrics: ServerMetrics? = nil,
                timeouts: ConnectionTimeouts = ConnectionTimeouts(), maxConnections: Int = 0, logger: Logger) {
        self.host = host
        self.port = port
        self.handler = handler
        self.extraHeaders = extraHeaders
        self.accessLog = accessLog
        self.tls = tls
        self.limits = limits?.isUnlimited == true ? nil : limits
        self.metrics = metrics
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.logger = logger
    }

    /// Binds and serves until the task is cancelled, or until a graceful shutdown has drained it:
    /// then no connection is accepted any more, requests under way finish (each connection
    /// closes after its response), and this returns once the last connection has closed.
    /// Cancellation closes every connection at once.
    /// - Parameter onBound: called with the bound port (useful with port 0).
    public func run(onBound: @Sendable (Int) -> Void = { _ in }) async throws {
        let connectionLimit = ConnectionLimit(maximum: maxConnections)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .bind(host: host, port: port) { [tls, timeouts, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Knows when each response has left the channel: for draining, the limiter's slots and the idle timeout.
                    let flushes = ResponseFlushes()
                    guard connectionLimit.reserve(for: channel) else {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
                        }
                        try channel.pipeline.syncOperations.addHandler(ConnectionRefusal())
                        return AcceptedConnection(channel: try NIOAsyncChannel(wrappingChannelSynchronously: channel),
                                                  flushes: flushes, watchdog: nil)
                    }
                    let watchdog = ConnectionWatchdog(timeouts: timeouts, channel: channel, flushes: flushes)
                    // First, so that a TLS handshake starts the header clock too.
                    try channel.pipeline.syncOperations.addHandler(InboundBytesWatch(watchdog: watchdog))
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FileRegionCloser())
                    try channel.pipeline.syncOperations.addHandler(flushes)
                    watchdog.start(logger: logger)
                    return AcceptedConnection(channel: try NIOAsyncChannel(wrappingChannelSynchronously: channel),
                                              flushes: flushes, watchdog: watchdog)
                }
            }
        onBound(server.channel.localAddress?.port ?? port)
        logger.info("listening", metadata: ["address": "\(host):\(server.channel.localAddress?.port ?? port)",
                                            "tls": "\(tls != nil)", "http.maxconnections": "\(maxConnections)",
                                            "http.timeouts.header": "\(timeouts.header)", "http.timeouts.idle": "\(timeouts.idle)"])
        let tracker = ConnectionTracker()
        do {
            try await withGracefulShutdownHandler {
                try await withTaskCancellationHandler {
                    try await server.executeThenClose { connections in
                        try await withThrowingDiscardingTaskGroup { group in
                            for try await accepted in connections {
                                group.addTask {
                                    if let watchdog = accepted.watchdog {
                                        await serve(accepted.take(), flushes: accepted.flushes, watchdog: watchdog, tracker: tracker)
                                    } else {
                                        await refused(accepted.take())
                                    }
                                }
                            }
                        }
                    }
                } onCancel: {
                    server.channel.close(promise: nil)
                    tracker.closeAll()
                }
            } onGracefulShutdown: { [logger] in
                logger.info("draining: no new connections; requests under way may finish")
                server.channel.close(promise: nil)
                tracker.drain()
            }
        } catch where tracker.isDraining {
            // The listening socket was closed under the accept loop on purpose.
        }
    }

    /// A connection over `http.maxconnections`: `ConnectionRefusal` answers it and closes it.
    private func refused(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        logger.debug("connection refused: http.maxconnections reached",
                     metadata: ["client": "\(connection.channel.remoteAddress?.ipAddress ?? "-")"])
        try? await connection.executeThenClose { _, _ in try await connection.channel.closeFuture.get() }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, flushes: ResponseFlushes,
                       watchdog: ConnectionWatchdog, tracker: ConnectionTracker) async {
        let channel = connection.channel
        guard tracker.register(channel, flushes: flushes) else {
            // Accepted just as the drain began: closed unserved.
            try? await connection.executeThenClose { _, _ in }
            return
        }
        defer { tracker.remove(channel) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                let body = RequestBody(iterator: inbound.makeAsyncIterator(), watchdog: watchdog)
                let remoteAddress = connection.channel.remoteAddress?.ipAddress
                while let head = try await body.nextHead() {
                    tracker.requestStarted(on: channel)
                    let request = HTTPRequest(method: head.method, uri: head.uri, headers: head.headers, remoteAddress: remoteAddress)
                    let started = ContinuousClock.now
                    let route = limits != nil || metrics != nil ? RequestRoute(path: request.path) : .other
                    let limiter = route.isExemptFromLimits ? nil : limits?.limiter(for: request.method)
                    var response: HTTPResponse
                    // A slot is held until the body is sent (or the send fails), as in OpenShift's registry.
                    var holdsSlot = false
                    var sentContinue = false
                    let expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
                    // Authentication first: a client without valid credentials never takes (or
                    // waits for) a slot that an authenticated one needs, and never gets a
                    // `100 Continue` that invites a body it may not send.
                    if limiter != nil || expectsContinue, let refusal = await handler.admit(request) {
                        response = refusal
                    } else if let limiter, let rejection = await limiter.acquire() {
                        response = RequestLimits.refusal(rejection, limits: limiter.limits, method: request.method)
                    } else {
                        holdsSlot = limiter != nil
                        if expectsContinue {
                            // curl waits a second for this before sending a large body.
                            do {
                                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .continue)))
                                sentContinue = true
                            } catch {
                                if holdsSlot { limiter?.release() }
                                throw error
                            }
                        }
                        response = await handler.handle(request, body: body, logger: logger)
                    }
                    guard channel.isActive, !body.isMalformed else {
                        // Closed under the request (a timeout, or the client left), or the body was
                        // not HTTP: NIO's error handler has answered 400 already (a second response
                        // would break the pipeline's ordering), and nobody would read this anyway.
                        if holdsSlot { limiter?.release() }
                        log(request, response, since: started, completed: false)
                        break
                    }
                    var keepAlive = head.isKeepAlive
                    if expectsContinue && !sentContinue && !body.isFinished {
                        // Refused before the 100: the client holds its body back, so draining
                        // would wait for nothing; the connection cannot carry on.
                        keepAlive = false
                    } else if !body.isFinished {
                        // Unread body: drain a little so the connection can carry on, else close it.
                        let drained = (try? await body.drain(limit: 1 << 20)) ?? false
                        keepAlive = keepAlive && drained
                    }
                    // While draining, every response is its connection's last.
                    keepAlive = keepAlive && !tracker.isDraining
                    response.headers.replaceOrAdd(name: "Docker-Distribution-API-Version", value: "registry/2.0")
                    for (name, value) in extraHeaders { response.headers.add(name: name, value: value) }
                    if !keepAlive { response.headers.replaceOrAdd(name: "Connection", value: "close") }
                    flushes.willWrite()
                    do {
                        try await write(response, version: head.version, to: outbound)
                        if holdsSlot {
                            await flushes.waitUntilWritten()
                            limiter?.release()
                        }
                        metrics?.record(route: route, method: request.method, response: response, duration: .now - started, completed: true)
                        log(request, response, since: started, completed: true)
                    } catch {
                        if holdsSlot { limiter?.release() }
                        metrics?.record(route: route, method: request.method, response: response, duration: .now - started, completed: false)
                        log(request, response, since: started, completed: false)
                        throw error
                    }
                    if tracker.requestEnded(on: channel) || !keepAlive {
                        // Closing with a body still queued would cut it short.
                        await flushes.waitUntilWritten()
                        break
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The access-log line. The query is left out: it may carry a signed URL's signature.
    private func log(_ request: HTTPRequest, _ response: HTTPResponse, since started: ContinuousClock.Instant, completed: Bool) {
        guard accessLog else { return }
        let elapsed = ContinuousClock.now - started
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method)",
            "http.path": "\(request.path)",
            "http.status": "\(response.status.code)",
            "http.bytes": "\(request.method == .HEAD ? 0 : response.bodyLength)",
            "duration_ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)",
            "client": "\(request.remoteAddress ?? "-")",
        ]
        if let cache = response.cacheResult { metadata["cache.result"] = "\(cache.rawValue)" }
        if let upstream = response.upstream { metadata["upstream"] = "\(upstream)" }
        if let namespace = request.queryValue("ns") { metadata["oci.namespace"] = "\(namespace)" }
        if let agent = request.headers.first(name: "user-agent") { metadata["http.useragent"] = "\(agent)" }
        if !completed { metadata["aborted"] = "true" }
        logger.info("request", metadata: metadata)
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion,
                       to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = response.headers
        let head = { HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: response.status, headers: headers)) }
        switch response.body {
        case .empty:
            // RFC 9110: no Content-Length on 1xx, 204 or 304.
            if headers["content-length"].isEmpty && ![.notModified, .noContent].contains(response.status) && response.status.code >= 200 {
                headers.add(name: "Content-Length", value: "0")
            }
            try await outbound.write(contentsOf: [head(), .end(nil)])
        case .headOnly:
            try await outbound.write(contentsOf: [head(), .end(nil)])
        case .buffer(let buffer):
            headers.replaceOrAdd(name: "Content-Length", value: String(buffer.readableBytes))
            try await outbound.write(contentsOf: [head(), .body(.byteBuffer(buffer)), .end(nil)])
        case .stream(let length, let produce):
            headers.replaceOrAdd(name: "Content-Length", value: String(length))
            try await outbound.write(head())
            // A failure here propagates and closes the connection mid-body, on purpose.
            try await produce(BodyWriter(outbound: outbound, usesTLS: tls != nil))
            try await outbound.write(.end(nil))
        case .file(let handle, let offset, let length) where tls != nil:
            headers.replaceOrAdd(name: "Content-Length", value: String(length))
            try await outbound.write(head())
            defer { try? handle.close() }
            try await BodyWriter(outbound: outbound, usesTLS: true).copy(from: handle, offset: offset, length: length)
            try await outbound.write(.end(nil))
        case .file(let handle, let offset, let length):
            headers.replaceOrAdd(name: "Content-Length", value: String(length))
            let region = FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + length))
            do {
                try await outbound.write(contentsOf: [head(), .body(.fileRegion(region)), .end(nil)])
            } catch {
                // Not handed to the channel: the closer never saw it.
                try? handle.close()
                throw error
            }
        }
    }
}
