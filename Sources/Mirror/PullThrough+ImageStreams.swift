import ImageStreams
import OCI
import Storage
import Upstream

/// Pull-through for repositories that have an OpenShift ImageStream: `<namespace>/<name>` is
/// served from its stream only. A tag resolves to its newest status item; a digest is served
/// only if it belongs to an image of the stream (a manifest, an index's child, a config or a
/// layer); content comes from the stream's candidates in OpenShift's order, each one passed by
/// the registry policy first and reached with the namespace's pull secret.
extension PullThrough {
    /// The stream serving `repository`, if any.
    public func imageStream(for repository: RepositoryName) -> ImageStream? {
        imageStreams?.stream(for: repository)
    }

    /// A manifest of the stream, by tag (its newest item) or by digest (one of its images).
    public func imageStreamManifest(_ reference: ManifestReference, stream: ImageStream, repository: RepositoryName) async throws(RegistryError)
        -> (StoredManifest, ManifestSource) {
        let digest: Digest
        switch reference {
        case .tag(let tag):
            guard let item = stream.newestItem(of: tag.value), let image = Digest(item.image) else {
                throw RegistryError(.manifestUnknown, "the ImageStream \(repository) has no image for tag \(tag)",
                                    detailJSON: #"{"tag":"\#(tag.value)"}"#)
            }
            digest = image
        case .digest(let value):
            digest = value
        }
        let routes = try imageStreamRoutes(stream, repository: repository, digest: digest)
        if case .digest = reference {
            guard try await imageStreamContains(digest, stream: stream, repository: repository, routes: routes, blobs: false) else {
                throw RegistryError(.manifestUnknown, "manifest \(digest) is not an image of the ImageStream \(repository)",
                                    detailJSON: #"{"digest":"\#(digest)"}"#)
            }
        }
        return try await streamManifest(digest, repository: repository, routes: routes)
    }

    /// Where a blob of the stream can be pulled from: the first candidate that holds it (a HEAD).
    /// - Throws: `BLOB_UNKNOWN` for a digest outside the stream (no upstream contact when the
    ///   stream's manifests are kept), `DENIED` when the policy refuses every candidate.
    public func imageStreamBlobRoute(_ digest: Digest, stream: ImageStream, repository: RepositoryName, linked: Bool) async throws(RegistryError)
        -> MirrorRoute? {
        let routes = try imageStreamRoutes(stream, repository: repository, digest: digest)
        guard try await imageStreamContains(digest, stream: stream, repository: repository, routes: routes, blobs: true) else {
            throw RegistryError(.blobUnknown, "blob \(digest) does not belong to an image of the ImageStream \(repository)",
                                detailJSON: #"{"digest":"\#(digest)"}"#)
        }
        if linked { return nil }
        let (_, route) = try await firstAnswering(routes, notFound: .blobUnknown, what: "blob \(digest)") { route throws(RegistryError) in
            try await headBlob(digest, route: route)
        }
        blobRepositories.remember(digest, in: route.description)
        return route
    }

    /// A route to each candidate the policy allows, in order, with the namespace's pull secret.
    /// - Throws: the first refusal, when the policy refuses every candidate.
    func imageStreamRoutes(_ stream: ImageStream, repository: RepositoryName, digest: Digest?) throws(RegistryError) -> [MirrorRoute] {
        guard configuration.pullthrough else { return [] }
        let cached = digest.map { blobRepositories.repositories(holding: $0) } ?? []
        let namespace = String(repository.components[0])
        let secret = imageStreams?.pullSecret(namespace: namespace).flatMap { try? CredentialStore(dockerConfigJSON: $0) }
        var routes: [MirrorRoute] = []
        var refusal: RegistryError?
        for candidate in stream.candidates(cached: cached) {
            do {
                try router.check(registry: candidate.registry, repository: candidate.repository)
            } catch {
                refusal = refusal ?? error
                continue
            }
            var route = MirrorRoute(localRepository: repository, registry: candidate.registry, upstreamRepository: candidate.repository,
                                    credentials: secret?.credentials(for: candidate.registry), insecure: candidate.insecure)
            route.listed = true
            routes.append(route)
        }
        if routes.isEmpty, let refusal { throw refusal }
        return routes
    }

    /// The kept copy of an image manifest, or the first candidate's that has it.
    private func streamManifest(_ digest: Digest, repository: RepositoryName, routes: [MirrorRoute]) async throws(RegistryError)
        -> (StoredManifest, ManifestSource) {
        if let kept = try? await store.manifest(digest, in: repository) { return (kept, .kept) }
        let (result, route) = try await firstAnswering(routes, notFound: .manifestUnknown, what: "manifest \(digest)") { route throws(RegistryError) in
            try await manifest(.digest(digest), route: route)
        }
        blobRepositories.remember(digest, in: route.description)
        return result
    }

    /// Whether `digest` is an image of the stream, a child of one, or (with `blobs`) a config or
    /// layer of one. Kept manifests are read first; the others are fetched only if needed.
    private func imageStreamContains(_ digest: Digest, stream: ImageStream, repository: RepositoryName, routes: [MirrorRoute],
                                     blobs: Bool) async throws(RegistryError) -> Bool {
        let images = stream.images
        if images.contains(digest) { return true }
        var seen: Set<Digest> = []
        var pending = Array(images)
        // First what is kept; only if that does not settle it, fetch the manifests not kept yet.
        for fetching in [false, true] {
            var missing: [Digest] = []
            while let image = pending.popLast() {
                guard seen.insert(image).inserted else { continue }
                var contents = imageContents[image]
                if contents == nil {
                    let stored: StoredManifest
                    if let kept = try? await store.manifest(image, in: repository) {
                        stored = kept
                    } else if fetching {
                        stored = try await streamManifest(image, repository: repository, routes: routes).0
                    } else {
                        seen.remove(image)
                        missing.append(image)
                        continue
                    }
                    let parsed = ImageContents(stored)
                    imageContents.insert(parsed, for: image, cost: parsed.cost)
                    contents = parsed
                }
                guard let contents else { continue }
                if contents.children.contains(digest) { return true }
                pending.append(contentsOf: contents.children)
                if blobs, contents.blobs.contains(digest) { return true }
            }
            if missing.isEmpty { break }
            pending = missing
        }
        return false
    }

    /// Tries `routes` in order, the next after any failure. A 429 from any of them is what the
    /// client is told; else the first failure other than not-found; else `notFound`.
    private func firstAnswering<T>(_ routes: [MirrorRoute], notFound: RegistryError.Code, what: String,
                                   _ body: (MirrorRoute) async throws(RegistryError) -> T) async throws(RegistryError) -> (T, MirrorRoute) {
        var rateLimited: RegistryError?, failure: RegistryError?
        for route in routes {
            do {
                return (try await body(route), route)
            } catch {
                logger.debug("imagestream candidate failed", metadata: ["upstream": "\(route)", "error": "\(error)"])
                if error.code == .tooManyRequests {
                    rateLimited = rateLimited ?? error
                } else if error.code != notFound {
                    failure = failure ?? error
                }
            }
        }
        if let rateLimited { throw rateLimited }
        if let failure { throw failure }
        throw RegistryError(notFound, "\(what) is on none of the ImageStream's \(routes.count) upstream repositories")
    }
}

/// What one image manifest references; manifests by digest never change, so this is kept.
struct ImageContents: Sendable {
    var children: [Digest] = []
    var blobs: Set<Digest> = []

    init(_ stored: StoredManifest) {
        guard let manifest = try? Manifest(bytes: stored.bytes, declaredType: stored.mediaType) else { return }
        children = manifest.manifests.compactMap { Digest($0.digest) }
        blobs = Set(manifest.referencedBlobs.compactMap { Digest($0.digest) })
    }

    var cost: Int { (children.count + blobs.count) * 80 + 64 }
}

extension PullThrough {
    /// What `reference`'s tag (or digest) is upstream now, for an ImageStream import: the
    /// policy is asked first, the namespace's pull secret used, and only a HEAD sent.
    public func resolveForImport(_ reference: DockerImageReference, namespace: String, insecure: Bool) async throws(RegistryError) -> Digest {
        try router.check(registry: reference.registry, repository: reference.repository)
        let secret = imageStreams?.pullSecret(namespace: namespace).flatMap { try? CredentialStore(dockerConfigJSON: $0) }
        let client = clients.client(for: reference.registry, credentials: secret?.credentials(for: reference.registry), insecure: insecure,
                                    listed: true)  // the admin API's import is the operator's
        let asked: ManifestReference
        if let digest = reference.digest {
            asked = .digest(digest)
        } else if let tag = Tag(reference.tag ?? "latest") {
            asked = .tag(tag)
        } else {
            throw RegistryError(.tagInvalid, "\(reference) has an invalid tag")
        }
        do {
            let head = try await client.headManifest(reference.repository, asked)
            if let digest = head.digest { return digest }
            return try await client.manifest(reference.repository, asked).digest
        } catch {
            throw error.registryError(notFound: .manifestUnknown)
        }
    }
}
