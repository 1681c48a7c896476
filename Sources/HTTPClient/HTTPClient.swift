import OCI

/// One Swift face over libcurl's multi interface.
///
/// A dedicated thread owns the multi handle and drives every transfer; calls from Swift tasks
/// enqueue work and suspend until the loop reports back, so no concurrency thread blocks on I/O.
/// Connections (and HTTP/2 streams, where offered) are reused across requests to the same host.
/// Proxies come from the environment as libcurl reads it (`http_proxy`, `https_proxy`/`HTTPS_PROXY`,
/// `no_proxy`/`NO_PROXY`; uppercase `HTTP_PROXY` is ignored by libcurl on purpose).
/// Cancelling the calling task aborts its transfer.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Docker-style per-registry CA directory: `<certsDirectory>/<host[:port]>/*.crt`
        /// are trusted in addition to the system bundle. nil: system bundle only.
        public var certsDirectory: String?
        public var userAgent: String = "wharf/0.1"
        /// Upper bound on parallel connections to one host (HTTP/2 multiplexes within them); 0: no limit.
        /// Over HTTP/1.1 a transfer paused by a slow streaming consumer keeps its connection, so
        /// more than this many slow streams to one host queue the rest (file sinks never pause long).
        public var maxConnectionsPerHost: Int = 8

        public init(certsDirectory: String? = nil, userAgent: String = "wharf/0.1", maxConnectionsPerHost: Int = 8) {
            self.certsDirectory = certsDirectory
            self.userAgent = userAgent
            self.maxConnectionsPerHost = maxConnectionsPerHost
        }
    }

    public let configuration: Configuration
    private let loop: CurlLoop
    private let trust: TrustStore

    public init(configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        self.trust = TrustStore(certsDirectory: configuration.certsDirectory)
        self.loop = try CurlLoop(trust: trust, userAgent: configuration.userAgent, maxConnectionsPerHost: configuration.maxConnectionsPerHost)
    }

    /// Fails running transfers with `.shutdown` and stops the loop thread.
    public func shutdown() { loop.shutdown() }

    /// Which CAs a request to `url` trusts (for diagnostics).
    public func trustInfo(for url: String) -> TrustInfo {
        guard let parts = URLParts(url) else { return TrustInfo(searchedDirectory: nil, caFiles: [], systemBundle: trust.systemBundlePath) }
        return trust.info(forAuthority: parts.authority)
    }

    /// Runs `request` and collects the body in memory (at most `maxBodySize` bytes, else
    /// `.bodyTooLarge`). A non-2xx response is returned, not thrown; its body is the error document.
    public func execute(_ request: HTTPRequest, maxBodySize: Int = 4 * 1024 * 1024) async throws(HTTPClientError) -> HTTPResponse {
        try await perform(request, handle: loop.makeHandle(), sink: CollectingSink(limit: maxBodySize))
    }

    /// Runs one transfer to its end: the sink resumes the continuation; cancelling the task
    /// cancels the transfer.
    private func perform<Sink: CompletingSink>(_ request: HTTPRequest, handle: TransferHandle, sink: Sink) async throws(HTTPClientError)
        -> Sink.Outcome {
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { c in
                    sink.continuation = c
                    loop.start(handle, request, sink: sink)
                }
            } onCancel: {
                loop.cancel(handle)
            }
        } catch {
            throw Self.typed(error)
        }
    }

    /// Where a download's bytes are hashed.
    public enum HashPlacement: Sendable {
        /// On a dispatch queue of the download's own, overlapping with receiving (default).
        /// Memory: a ring of four 256 KiB buffers; the transfer pauses while all four wait to be hashed.
        case pipelined
        /// On the loop thread, right before each 256 KiB write (one buffer; slower on two cores).
        case loopThread
    }

    /// Runs `request` and writes a 2xx body to `fd` (from its current offset), gathered from
    /// libcurl's 16 KiB callbacks into 256 KiB writes, hashed when `hashing` is given.
    public func download(_ request: HTTPRequest, to fd: Int32, hashing: DigestHasher.Algorithm? = .sha256,
                         placement: HashPlacement = .pipelined,
                         observer: (any DownloadObserver)? = nil) async throws(HTTPClientError) -> HTTPDownload {
        try await download(request, to: fd, hashing: hashing, placement: placement, ringBufferSize: 256 * 1024, ringBufferCount: 4,
                           observer: observer)
    }

    /// `download` with the pipelined ring's shape chosen (tests use tiny rings to force pauses).
    func download(_ request: HTTPRequest, to fd: Int32, hashing: DigestHasher.Algorithm?, placement: HashPlacement,
                  ringBufferSize: Int, ringBufferCount: Int,
                  observer: (any DownloadObserver)? = nil) async throws(HTTPClientError) -> HTTPDownload {
        let handle = loop.makeHandle()
        let sink: any DownloadSink = switch placement {
        case .pipelined:
            PipelinedFileSink(fd: fd, hashing: hashing, loop: loop, handle: handle, bufferSize: ringBufferSize, bufferCount: ringBufferCount,
                              observer: observer)
        case .loopThread: FileSink(fd: fd, hashing: hashing, observer: observer)
        }
        return try await perform(request, handle: handle, sink: sink)
    }

    /// Starts `request` and returns once the response head is in. A 2xx body then arrives through
    /// `HTTPStreamingResponse.body`, with at most `bufferLimit` bytes (plus one 16 KiB callback)
    /// held in memory: when the consumer falls behind, the transfer pauses until it catches up.
    public func stream(_ request: HTTPRequest, bufferLimit: Int = 1024 * 1024) async throws(HTTPClientError) -> HTTPStreamingResponse {
        let handle = loop.makeHandle()
        let sink = StreamingSink(limit: bufferLimit, handle: handle, loop: loop)
        loop.start(handle, request, sink: sink)
        do {
            let head = try await sink.awaitHead()
            let body = HTTPBodyStream(sink: sink)
            var errorBody: [UInt8] = []
            if !head.isSuccess {
                while try await sink.next() != nil {}
                errorBody = sink.errorBody
            }
            return HTTPStreamingResponse(head: head, body: body, errorBody: errorBody)
        } catch {
            sink.cancel()
            throw Self.typed(error)
        }
    }

    static func typed(_ error: any Error) -> HTTPClientError {
        if let error = error as? HTTPClientError { return error }
        if error is CancellationError { return HTTPClientError(.cancelled, "the transfer was cancelled") }
        return HTTPClientError(.other, "\(error)")
    }
}

/// A response whose body is still arriving.
public struct HTTPStreamingResponse: Sendable {
    public var head: HTTPResponseHead
    /// The body of a 2xx response (empty otherwise). Dropping it cancels the transfer.
    public var body: HTTPBodyStream
    /// The error document of a non-2xx response.
    public var errorBody: [UInt8]
}

/// The body of a streamed response as an async sequence of byte chunks.
/// Releasing the last reference to it cancels a transfer that has not finished.
public final class HTTPBodyStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    private let sink: StreamingSink

    init(sink: StreamingSink) { self.sink = sink }
    deinit { sink.cancel() }

    /// How many times the transfer paused because the consumer was behind.
    public var pauseCount: Int { sink.pauseCount }
    /// The most body bytes this stream ever held in memory.
    public var maxBufferedBytes: Int { sink.maxBuffered }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: HTTPBodyStream
        public mutating func next() async throws -> [UInt8]? {
            do { return try await stream.sink.next() } catch { throw HTTPClient.typed(error) }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

/// The file sinks, whichever thread hashes.
/// A sink that ends its transfer by resuming one continuation with the outcome.
protocol CompletingSink<Outcome>: TransferSink {
    associatedtype Outcome: Sendable
    var continuation: CheckedContinuation<Outcome, any Error>? { get set }
}

protocol DownloadSink: CompletingSink where Outcome == HTTPDownload {}
extension CollectingSink: CompletingSink {}
extension FileSink: DownloadSink {}
extension PipelinedFileSink: DownloadSink {}
