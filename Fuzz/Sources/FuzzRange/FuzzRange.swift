// Byte ranges from the wire: a blob GET's `Range` (ByteRange.resolve), an upload chunk's
// `Content-Range` checked against `Content-Length` (RegistryHandler.contentRange), and the
// total of an upstream's `Content-Range` (BlobFill, RegistryClient).
//
// Input, one value per line (a missing line is a missing header): the blob's size, `Range`,
// the chunk's `Content-Range`, its `Content-Length`, the upstream's `Content-Range`.
//
// Asserts: a resolved range lies within the blob; an accepted chunk range is ordered,
// non-negative and exactly as long as a declared Content-Length.
import HTTPClient
@testable import Mirror
import OCI
@testable import Server
@testable import Upstream

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
    func line(_ index: Int) -> String? { index < lines.count ? lines[index] : nil }

    // Sizes come from storage: never negative.
    let blobSize = max(0, line(0).flatMap { Int64($0) } ?? 0)
    switch ByteRange.resolve(line(1), size: blobSize) {
    case .partial(let range):
        precondition(range.start >= 0 && range.start <= range.end && range.end < blobSize,
                     "range \(range.start)-\(range.end) outside a blob of \(blobSize) bytes")
        precondition(range.length > 0 && range.length <= blobSize, "range length \(range.length)")
    case .whole, .unsatisfiable:
        break
    }

    var request = Server.HTTPRequest(method: .PATCH, uri: "/v2/fuzz/blobs/uploads/id", headers: [:])
    if let value = line(2) { request.headers.add(name: "Content-Range", value: value) }
    if let value = line(3) { request.headers.add(name: "Content-Length", value: value) }
    if let range = try? RegistryHandler.contentRange(request) {
        precondition(range.start >= 0 && range.end >= range.start, "chunk range \(range.start)-\(range.end)")
        if let declared = request.contentLength {
            let (length, overflow) = (range.end - range.start).addingReportingOverflow(1)
            precondition(!overflow && length == declared, "chunk range \(range.start)-\(range.end) for Content-Length \(declared)")
        }
    }

    var head = HTTPResponseHead(status: 206, headers: [:], url: "https://upstream.example/v2/a/blobs/b", httpVersion: "1.1")
    if let value = line(4) { head.headers.set("Content-Range", value) }
    if let value = line(4), let range = BlobFill.parseContentRange(value) {
        precondition(range.start >= 0 && range.start <= range.end && range.end < range.total,
                     "resume range \(range.start)-\(range.end)/\(range.total)")
    }
    if let total = RegistryClient.totalSize(head) { precondition(total >= 0, "negative total \(total)") }
    return 0
}
