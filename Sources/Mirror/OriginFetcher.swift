import Foundation
import HTTPClient
import Logging
import OCI
import Storage
import Synchronization

/// A CDN edge's fetches from its origin: one GET per digest of the signed URL the client
/// brought (the origin verifies it as the edge did), read live by every waiting client,
/// verified, and kept. The edge keeps blobs by digest only; the signed URL is its scope.
public final class OriginFetcher: Sendable {
    let origin: String
    let store: ContentStore
    let http: HTTPClient
    let logger: Logger
    let metrics: MirrorMetrics
    private let fills: FillTable
    private let background: BackgroundTasks

    /// - Parameter metrics: defaults to the process's metrics backend; the origin is registry `origin`.
    public init(origin: String, store: ContentStore, certsDirectory: String?, background: BackgroundTasks, logger: Logger,
                metrics: MirrorMetrics? = nil) throws {
        self.origin = origin.hasSuffix("/") ? String(origin.dropLast()) : origin
        self.metrics = metrics ?? MirrorMetrics(registries: ["origin"])
        self.store = store
        self.background = background
        self.fills = FillTable(store: store)
        self.http = try HTTPClient(configuration: .init(certsDirectory: certsDirectory))
        self.logger = logger
    }

    public func shutdown() { http.shutdown() }

    /// The running fill of `digest`, or a new one fetching `requestTarget` (path and signed query) from the origin.
    /// - Returns: the fill, and whether another request had started it.
    public func fill(_ digest: Digest, requestTarget: String) async throws(RegistryError) -> (BlobFill, joined: Bool) {
        let (fill, isNew) = try fills.startOrJoin(digest, route: nil)
        let url = origin + requestTarget
        if isNew, !background.submit({ [self] in
            metrics.fillStarted()
            let started = ContinuousClock.now
            let outcome = await fetch(fill, url: url)
            let committed = if case .committed = outcome { true } else { false }
            metrics.fillEnded(committed: committed, bytes: fill.bytesWritten, duration: .now - started)
            fills.remove(fill)
            fill.finish(outcome)
        }) {
            let error = RegistryError(.unavailable, "the registry is shutting down; try again", status: 503)
            fills.remove(fill)
            try? await store.driver.delete(fill.staging.path)
            fill.finish(.failed(error))
            throw error
        }
        return (fill, !isNew)
    }

    private func fetch(_ fill: BlobFill, url: String) async -> BlobFill.Outcome {
        let algorithm = DigestHasher(for: fill.digest)?.algorithm ?? .sha256
        do {
            fill.prepareAttempt(from: 0)
            let download: HTTPDownload
            do {
                download = try await http.download(HTTPRequest(.get, url: url), to: fill.writeDescriptor, hashing: algorithm, observer: fill)
            } catch {
                metrics.countUpstream("origin", .blob, outcome: "error")
                throw error
            }
            let outcome = switch download.head.status {
            case 200: "ok"
            case 403: "denied"
            case 404: "not_found"
            default: "unavailable"
            }
            metrics.countUpstream("origin", .blob, outcome: outcome)
            guard download.head.status == 200 else {
                try? await store.driver.delete(fill.staging.path)
                let code: RegistryError.Code = download.head.status == 404 ? .blobUnknown : (download.head.status == 403 ? .denied : .unavailable)
                return .failed(RegistryError(code, "origin \(origin) answered \(download.head.status) for \(fill.digest)",
                                             status: code == .unavailable ? 502 : nil))
            }
            guard download.digest == fill.digest.description else {
                try? await store.driver.delete(fill.staging.path)
                return .failed(RegistryError(.unavailable, "origin \(origin) sent content for \(fill.digest) that hashes to \(download.digest ?? "?")", status: 502))
            }
            fill.markVerified()
            fsync(fill.writeDescriptor)
            try await store.commitStaged(fill.staging, digest: fill.digest, size: download.bytesWritten, into: nil)
            logger.info("blob fetched from origin", metadata: ["oci.digest": "\(fill.digest)", "bytes": "\(download.bytesWritten)"])
            return .committed
        } catch {
            try? await store.driver.delete(fill.staging.path)
            logger.warning("fetching from origin failed", metadata: ["oci.digest": "\(fill.digest)", "error": "\(error)"])
            return .failed(RegistryError(.unavailable, "origin \(origin) could not be reached: \(error)", status: 502))
        }
    }
}
