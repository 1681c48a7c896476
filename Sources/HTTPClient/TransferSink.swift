/// What a sink tells the loop after it was handed body bytes.
enum BodyDisposition {
    /// The bytes were taken.
    case accepted
    /// Keep the bytes and pause the transfer; the sink asks the loop to resume it later.
    case pause
    /// Abort the transfer with this error.
    case abort(HTTPClientError)
}

/// A finished transfer, as the loop hands it to the sink.
struct TransferSummary {
    var head: HTTPResponseHead
    /// The first bytes of a non-2xx body (the body of a 2xx response went to the sink).
    var errorBody: [UInt8]
}

/// Receives one transfer's events. Every method is called on the loop thread only, in order:
/// `receivedHead` once for the final response, `receivedBody` for a 2xx body, then `finished` once
/// (`finished` may come without a head when the transfer failed before one arrived).
protocol TransferSink: AnyObject, Sendable {
    func receivedHead(_ head: HTTPResponseHead)
    func receivedBody(_ bytes: UnsafeRawBufferPointer) -> BodyDisposition
    func finished(_ result: Result<TransferSummary, HTTPClientError>)
}

/// An opaque, process-unique transfer number used to address a running transfer from any thread.
struct TransferID: Hashable, Sendable, Comparable {
    let value: UInt64
    static func < (a: TransferID, b: TransferID) -> Bool { a.value < b.value }
}

/// Follows a download into a file as it happens: the mirror lets clients read a blob while it is
/// still arriving. Called on the loop thread, in order; implementations must return quickly.
public protocol DownloadObserver: AnyObject, Sendable {
    /// The final response head (after redirects).
    func downloadDidReceiveHead(_ head: HTTPResponseHead)
    /// The first `total` bytes of the body are now written to the file.
    func downloadDidWrite(total: Int64)
    /// Asked before the final response's body is taken: an error refuses the response (the
    /// transfer is aborted with it, nothing of the body is written).
    func downloadShouldAccept(_ head: HTTPResponseHead) -> HTTPClientError?
    /// Asked before bytes are written that would make the body `total` bytes long: an error
    /// aborts the transfer before they are written (a body longer than its declared size).
    func downloadShouldWrite(upTo total: Int64) -> HTTPClientError?
}

extension DownloadObserver {
    public func downloadShouldAccept(_ head: HTTPResponseHead) -> HTTPClientError? { nil }
    public func downloadShouldWrite(upTo total: Int64) -> HTTPClientError? { nil }
}
