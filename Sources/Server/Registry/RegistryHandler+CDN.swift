import CDN
import Logging
import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Storage

/// How this instance takes part in a CDN: as the origin that redirects blob downloads to
/// signed URLs, as an edge that verifies them, or both.
public struct CDNSettings: Sendable {
    /// Signs redirects for committed blobs (Distribution's `cloudfront` middleware).
    public var redirector: BlobRedirector?
    /// Verifies signed blob URLs: an edge's configured keys, or an origin's own key, so that
    /// edges can fetch from it with the URL their client brought.
    public var verifier: CloudFrontVerifier?
    /// The public URL prefix signed URLs were made for; nil to rebuild it from `Host`.
    public var signedBaseURL: String?
    /// An edge's fetches from its origin.
    public var originFetcher: OriginFetcher?
    /// Counts redirects issued and signed URLs checked; nil when metrics are off.
    public var metrics: ServerMetrics?

    public init() {}

    static let blobPathPrefix = "/docker/registry/v2/blobs/"
}

extension RegistryHandler {
    /// A 307 to a signed URL for a committed blob, or nil to serve it here (no CDN, or
    /// signing failed: the client still gets its blob).
    func cdnRedirect(_ digest: Digest, request: HTTPRequest) -> HTTPResponse? {
        guard let redirector = cdn.redirector, !settings.redirectDisabled else { return nil }
        do {
            let url = try redirector.redirectURL(for: digest, clientIP: request.remoteAddress)
            logger.info("blob redirected to the CDN", metadata: ["oci.digest": "\(digest)", "cache.result": "redirect"])
            cdn.metrics?.cdnRedirects.increment()
            return HTTPResponse(status: .temporaryRedirect, headers: ["Location": url, "Docker-Content-Digest": digest.description])
        } catch {
            logger.warning("signing a CDN redirect failed; serving the blob directly", metadata: ["oci.digest": "\(digest)", "error": "\(error)"])
            cdn.metrics?.cdnSigningFailures.increment()
            return nil
        }
    }

    /// GET/HEAD of `/docker/registry/v2/blobs/<alg>/<xx>/<hex>/data?<signature>`: the CDN side.
    func serveSignedBlob(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let verifier = cdn.verifier else {
            throw RegistryError(.unsupported, "this registry does not serve signed blob URLs (no cdn.edge or cloudfront configuration)", status: 404)
        }
        guard request.method == .GET || request.method == .HEAD else {
            throw RegistryError(.unsupported, "\(request.method) is not supported on signed blob URLs")
        }
        let url: String
        if let base = cdn.signedBaseURL {
            url = base + request.uri.drop { $0 == "/" }
        } else {
            url = "http://\(request.headers.first(name: "host") ?? "localhost")\(request.uri)"
        }
        let grant: CloudFrontVerifier.Grant
        do {
            grant = try verifier.verify(url: url, clientIP: request.remoteAddress)
            cdn.metrics?.recordEdgeVerification("ok")
        } catch {
            cdn.metrics?.recordEdgeVerification(error.code.description)
            logger.info("signed URL refused", metadata: ["reason": "\(error.code)", "cache.result": "denied"])
            throw RegistryError(.denied, error.message)
        }
        guard let digest = BlobRedirector.digest(fromStoragePath: grant.path) else {
            throw RegistryError(.blobUnknown, "the signed path \(grant.path) does not name a blob")
        }
        return try await retryingVanishedBlob {
            if let size = try await store.blobSize(digest) {
                return try await serveStoredBlob(digest, size: size, request: request, mayRedirect: false)
            }
            guard let fetcher = cdn.originFetcher else {
                throw RegistryError(.blobUnknown, "blob \(digest) is not stored here", detailJSON: #"{"digest":"\#(digest)"}"#)
            }
            let (fill, joined) = try await fetcher.fill(digest, requestTarget: request.uri)
            var response = try await serveFilling(fill, request: request)
            response.cacheResult = joined ? .join : .miss
            return response
        }
    }
}
