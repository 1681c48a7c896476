import NIOCore
import NIOHTTP1

/// The body of the request being handled, read part by part from the connection.
///
/// Not `Sendable`: it belongs to the connection's task, which reads one request at a time.
public final class RequestBody {
    private var iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    /// True once `.end` was read: the next part belongs to the next request.
    private(set) var isFinished = false
    /// Bytes read so far.
    public private(set) var bytesRead: Int64 = 0

    /// Times the waits for body bytes (`http.minbodyrate`).
    private let watchdog: ConnectionWatchdog?

    init(iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator, watchdog: ConnectionWatchdog? = nil) {
        self.iterator = iterator
        self.watchdog = watchdog
    }

    /// The next chunk of the body, or nil at its end.
    public func next() async throws -> ByteBuffer? {
        guard !isFinished else { return nil }
        while let part = try await nextPart() {
            switch part {
            case .body(let buffer):
                bytesRead += Int64(buffer.readableBytes)
                return buffer
            case .end:
                isFinished = true
                return nil
            case .head:
                throw HTTPServerError.unexpectedHead
            }
        }
        throw HTTPServerError.connectionClosed
    }

    /// True once the connection sent bytes that are not HTTP (a malformed chunk, say): NIO's
    /// protocol error handler has then answered `400` and closes the connection, so the request's
    /// own response must not be written after it.
    public private(set) var isMalformed = false

    /// The next part of the body, its wait timed by the watchdog.
    private func nextPart() async throws -> HTTPServerRequestPart? {
        watchdog?.bodyWaitBegan()
        let part: HTTPServerRequestPart?
        do {
            part = try await iterator.next()
        } catch let error as HTTPParserError {
            isMalformed = true
            throw error
        }
        if case .body(let buffer) = part {
            watchdog?.bodyWaitEnded(bytes: buffer.readableBytes)
        } else {
            watchdog?.bodyWaitEnded(bytes: 0)
        }
        return part
    }

    /// Collects the whole body, failing once it exceeds `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        while var chunk = try await next() {
            guard all.readableBytes + chunk.readableBytes <= limit else { throw HTTPServerError.bodyTooLarge }
            all.writeBuffer(&chunk)
        }
        return all
    }

    /// Reads and drops what is left of this body, up to `limit` bytes.
    /// - Returns: false if more was left, so the connection cannot be reused.
    func drain(limit: Int64) async throws -> Bool {
        var dropped: Int64 = 0
        while let chunk = try await next() {
            dropped += Int64(chunk.readableBytes)
            if dropped > limit { return false }
        }
        return true
    }

    /// Moves to the next request's head.
    func nextHead() async throws -> HTTPRequestHead? {
        watchdog?.awaitingHead()
        while let part = try await iterator.next() {
            if case .head(let head) = part {
                watchdog?.headReceived()
                isFinished = false
                bytesRead = 0
                return head
            }
        }
        return nil
    }
}

public struct HTTPServerError: Error, Sendable, Equatable {
    let reason: String
    static let unexpectedHead = HTTPServerError(reason: "a new request began before the body ended")
    static let connectionClosed = HTTPServerError(reason: "the connection closed before the body ended")
    public static let bodyTooLarge = HTTPServerError(reason: "the body is larger than allowed")
    static let fileEndedEarly = HTTPServerError(reason: "a file ended before the length it was served with")
}
