import OCI

/// Which stored blobs an upstream's word may not hand to another repository: the ones pushed
/// here, and the ones fetched from an upstream with credentials.
///
/// Storage is shared by digest, and a mirror links a stored blob into another route's
/// repository once that route's upstream confirms (a HEAD) that it holds the digest. For a
/// blob anyone can download that reveals nothing; for a private one (pushed, or behind a
/// registry's credentials) a HEAD 200 from a host the client may control proves nothing. Such a
/// blob carries a marker `_wharf/private/<algorithm>/<encoded>` listing the registries (one per
/// line) whose confirmation is trusted: the one it was fetched from with credentials; none for a
/// pushed blob. Any other route must download it from its own upstream (and the bytes must
/// hash to the digest) before it is linked. A blob without a marker was fetched anonymously.
extension ContentStore {
    /// Outside Distribution's tree, next to the cache markers.
    public static let privateDirectory = StoragePath(["_wharf", "private"])

    static func privateMarker(_ digest: Digest) -> StoragePath {
        privateDirectory.appending(digest.algorithm, digest.encoded)
    }

    /// The registries whose confirmation may link `digest` into another repository; nil when
    /// any upstream's may (fetched anonymously), empty when none (pushed).
    public func trustedConfirmers(of digest: Digest) async throws -> Set<String>? {
        let marker = Self.privateMarker(digest)
        guard try await driver.stat(marker) != nil else { return nil }
        let text = String(decoding: try await driver.getContent(marker), as: UTF8.self)
        return Set(text.split(separator: "\n").map(String.init))
    }

    /// Records that `digest` was pushed, or fetched from `registry` with credentials. A blob
    /// already stored without a marker was downloadable anonymously before: it stays public.
    /// - Parameter existedBefore: whether the blob was stored before this push or fill.
    public func markPrivate(_ digest: Digest, fetchedFrom registry: String?, existedBefore: Bool) async throws {
        let current = try await trustedConfirmers(of: digest)
        if existedBefore && current == nil { return }
        var registries = current ?? []
        if let registry { registries.insert(registry) }
        if current == registries, current != nil { return }
        try await driver.putContent(Self.privateMarker(digest), Array(registries.sorted().joined(separator: "\n").utf8))
    }

    /// A route downloaded `digest` anonymously, verified: anyone can, so it is public now.
    public func markPublic(_ digest: Digest) async throws {
        guard try await driver.stat(Self.privateMarker(digest)) != nil else { return }
        try await driver.delete(Self.privateMarker(digest))
    }
}
