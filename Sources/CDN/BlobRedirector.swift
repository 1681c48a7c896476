import Foundation
import OCI

/// Turns a committed blob into the signed URL a `307 Temporary Redirect` points at, as
/// Distribution's cloudfront middleware does: `baseurl + storage path`, e.g.
/// `https://cdn.example/docker/registry/v2/blobs/sha256/ab/ab12…/data?Expires=…`.
///
/// Only for content Wharf has committed (the caller checks); manifests are never redirected.
/// Immutable and `Sendable`: build it once at start-up and share it.
public struct BlobRedirector: Sendable {
    public let signer: CloudFrontSigner
    /// Has a scheme and ends with `/`.
    public let baseURL: String
    public let policy: CloudFrontConfiguration.PolicyKind
    public let clientIPCondition: Bool
    public let notBefore: Duration?
    /// Prepended to the storage path (Distribution: the S3 driver's `rootdirectory`, trimmed).
    public let pathPrefix: String
    /// How long a signed URL is handed out again for the same blob (and client, when pinned);
    /// zero signs every time.
    public let reuseWindow: Duration
    private let cache: SignedURLCache?

    /// Reads the private key from `configuration.privateKeyPath`.
    public init(configuration: CloudFrontConfiguration, pathPrefix: String = "", reuseWindow: Duration = .zero) throws(CDNError) {
        let pem: String
        do {
            pem = try String(contentsOfFile: configuration.privateKeyPath, encoding: .utf8)
        } catch {
            throw CDNError(.invalidKey, "cloudfront privatekey \(configuration.privateKeyPath) cannot be read: \(error.localizedDescription)")
        }
        try self.init(configuration: configuration, privateKeyPEM: pem, pathPrefix: pathPrefix, reuseWindow: reuseWindow)
    }

    public init(configuration: CloudFrontConfiguration, privateKeyPEM: String, pathPrefix: String = "",
                reuseWindow: Duration = .zero) throws(CDNError) {
        let signer = try CloudFrontSigner(
            privateKeyPEM: privateKeyPEM, keyPairID: configuration.keyPairID,
            hashAlgorithm: configuration.hashAlgorithm, duration: configuration.duration)
        self.init(signer: signer, baseURL: configuration.baseURL, policy: configuration.policy,
                  clientIPCondition: configuration.clientIPCondition, notBefore: configuration.notBefore,
                  pathPrefix: pathPrefix, reuseWindow: reuseWindow)
    }

    /// - Parameter reuseWindow: hand out the same signed URL for this long (a small part of
    ///   the signer's duration, e.g. 30 s of 20 min) to spare an RSA signature per request.
    public init(signer: CloudFrontSigner, baseURL: String, policy: CloudFrontConfiguration.PolicyKind = .canned,
                clientIPCondition: Bool = false, notBefore: Duration? = nil, pathPrefix: String = "",
                reuseWindow: Duration = .zero) {
        self.signer = signer
        self.baseURL = CloudFrontConfiguration.normalisedBaseURL(baseURL)
        self.policy = policy
        self.clientIPCondition = clientIPCondition
        self.notBefore = notBefore
        self.pathPrefix = pathPrefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.reuseWindow = reuseWindow
        self.cache = reuseWindow > .zero ? SignedURLCache(window: reuseWindow) : nil
    }

    /// Operator-facing notes gathered at construction (small key); log once.
    public var warnings: [String] { signer.warnings }

    /// Distribution's path of a blob's bytes: `docker/registry/v2/blobs/<alg>/<xx>/<encoded>/data`
    /// (the same as `Storage.StorageLayout.blobData`, which CDN may not import).
    public static func blobStoragePath(_ digest: Digest) -> String {
        "docker/registry/v2/blobs/\(digest.algorithm)/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
    }

    /// The digest named by a blob path (the inverse of `blobStoragePath`, a leading `/` and a
    /// `pathPrefix` allowed): what an edge serves for a verified URL. `nil` for any other path,
    /// so nothing unparsed reaches the filesystem.
    public static func digest(fromStoragePath path: some StringProtocol, pathPrefix: String = "") -> Digest? {
        var components = path.split(separator: "/", omittingEmptySubsequences: false)[...]
        if components.first == "" { components = components.dropFirst() }
        for prefix in pathPrefix.split(separator: "/") {
            guard let first = components.first, first == prefix else { return nil }
            components = components.dropFirst()
        }
        let parts = Array(components)
        guard parts.count == 8, parts[0] == "docker", parts[1] == "registry", parts[2] == "v2", parts[3] == "blobs",
              parts[7] == "data", let digest = Digest("\(parts[4]):\(parts[6])"), digest.isVerifiable,
              parts[5] == digest.encoded.prefix(2) else { return nil }
        return digest
    }

    /// The signed URL for a committed blob.
    ///
    /// - Parameter clientIP: the requesting client's address; required when the policy is
    ///   pinned to it (`clientipcondition: true`), else unused.
    public func redirectURL(for digest: Digest, clientIP: String?, now: Date = Date()) throws(CDNError) -> String {
        try redirectURL(storagePath: Self.blobStoragePath(digest), clientIP: clientIP, now: now)
    }

    /// The signed URL for a storage path (`docker/registry/v2/blobs/…`; a leading `/` is ignored).
    public func redirectURL(storagePath: String, clientIP: String?, now: Date = Date()) throws(CDNError) -> String {
        var path = Substring(storagePath)
        while path.first == "/" { path = path.dropFirst() }
        let key = pathPrefix.isEmpty ? String(path) : "\(pathPrefix)/\(path)"
        let url = baseURL + key
        guard let cache else { return try sign(url: url, clientIP: clientIP, now: now) }
        let cacheKey = clientIPCondition ? "\(key) \(clientIP ?? "")" : key
        return try cache.url(for: cacheKey, now: now) { () throws(CDNError) in try sign(url: url, clientIP: clientIP, now: now) }
    }

    private func sign(url: String, clientIP: String?, now: Date) throws(CDNError) -> String {
        let expires = Int64(now.addingTimeInterval(signer.duration.timeInterval).timeIntervalSince1970.rounded(.down))
        guard policy == .custom else {
            return try signer.sign(url: url, expires: Date(timeIntervalSince1970: TimeInterval(expires)))
        }
        var custom = CloudFrontPolicy(resource: url, expires: expires)
        if let notBefore {
            custom.notBefore = Int64(now.addingTimeInterval(notBefore.timeInterval).timeIntervalSince1970.rounded(.down))
        }
        if clientIPCondition {
            guard let clientIP, let range = IPAddressRange(host: clientIP) else {
                throw CDNError(.malformed, "cannot pin the signed URL to the client: \"\(clientIP ?? "")\" is not an IP address")
            }
            custom.sourceIP = range
        }
        return try signer.sign(url: url, policy: custom)
    }
}
