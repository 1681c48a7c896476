import Foundation
import HTTPClient
import ImageStreams
import Logging
import OCI
import Policy
import Storage
import Synchronization
import Upstream

/// Pull-through: what the registry does for a repository whose content comes from upstream.
///
/// - Blobs: one upstream GET per digest (`BlobFill`), however many clients and repositories ask;
///   clients read the staging file as it fills; the fill completes even if they all hang up.
/// - Manifests: by digest fetched once and kept; by tag kept and revalidated with a HEAD once
///   `tagTTL` has passed, the kept copy served when the upstream fails (stale-if-error).
/// - Scope: a blob is served through a repository only if that repository's upstream holds it.
public final class PullThrough: Sendable {
    public let configuration: MirrorConfiguration
    public let router: MirrorRouter
    let store: ContentStore
    let clients: UpstreamClients
    let logger: Logger
    let metrics: MirrorMetrics
    /// Runs the fills: owned by the server's task tree, so shutdown can wait for them or cancel them.
    private let background: BackgroundTasks
    private let fills: FillTable
    private let fillSlots: AsyncSlots
    /// Per upstream registry, taken before a slot of `fillSlots`: a slow upstream's fills wait
    /// among themselves and leave the other slots to other upstreams.
    private let registrySlots: KeyedSlots<String>
    // Bounded by estimated bytes: repository names and tags are as long as a client makes them.
    private let confirmed = BoundedCache<ScopeKey, ContinuousClock.Instant>(capacity: 32 << 20) { key, _ in
        key.route.estimatedBytes + key.digest.description.utf8.count + 64
    }
    private let tagsChecked = BoundedCache<TagKey, ContinuousClock.Instant>(capacity: 16 << 20) { key, _ in
        key.route.estimatedBytes + key.tag.description.utf8.count + 64
    }
    private let manifestFlights = SingleFlight<ManifestKey, StoredManifest>()
    /// Upstream tag lists, kept for `tagttl` (a client paging through them asks once).
    private let upstreamTags = BoundedCache<MirrorRoute, UpstreamTagList>(capacity: 32 << 20)
    private let tagFlights = SingleFlight<MirrorRoute, [String]>()
    /// Blob sizes the manifests fetched from each upstream give (a fill of that upstream may not
    /// exceed or contradict them); per registry, so one upstream cannot fail another's fills.
    private let manifestSizes = BoundedCache<RegistryDigest, Int64>(capacity: 32 << 20) { key, _ in
        key.registry.utf8.count + key.digest.description.utf8.count + 64
    }

    /// OpenShift ImageStreams: a repository `<namespace>/<name>` with a stream is served from it only.
    public let imageStreams: ImageStreamCatalog?
    /// Which upstream repositories were found to hold a digest (`blobrepositorycachettl`).
    let blobRepositories: BlobRepositoryCache
    /// Children, config and layers of ImageStream images, by manifest digest.
    let imageContents = BoundedCache<Digest, ImageContents>(capacity: 16 << 20)  // bytes (see `cost`)

    /// - Parameters:
    ///   - metrics: defaults to the process's metrics backend (a no-op until one is bootstrapped).
    ///   - onRefusal: told of every pull the registry policy refuses (with the deciding rule).
    public init(configuration: MirrorConfiguration, store: ContentStore, background: BackgroundTasks, logger: Logger,
                metrics: MirrorMetrics? = nil, imageStreams: ImageStreamCatalog? = nil,
                onRefusal: @escaping @Sendable (PolicyDecision) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.background = background
        let metrics = metrics ?? MirrorMetrics(configuration: configuration)
        self.metrics = metrics
        self.imageStreams = imageStreams
        self.blobRepositories = BlobRepositoryCache(ttl: configuration.blobRepositoryTTL)
        self.router = MirrorRouter(configuration: configuration) { decision in
            metrics.policyRefused(decision)
            onRefusal(decision)
        }
        self.store = store
        self.clients = try UpstreamClients(configuration: configuration, policy: router.policy)
        self.logger = logger
        self.fillSlots = AsyncSlots(configuration.maxConcurrentFills)
        self.registrySlots = KeyedSlots(configuration.maxFillsPerRegistry)
        // Waiting fills hold descriptors and staging files too: a few per slot, then 503.
        self.fills = FillTable(store: store, budget: StagingBudget(limit: configuration.maxStagingBytes),
                               capacity: configuration.maxConcurrentFills * 8)
    }

    public func route(_ name: RepositoryName, namespace: String?) throws(RegistryError) -> MirrorRoute? {
        try router.route(name, namespace: namespace)
    }

    /// The route without the policy's verdict (see `MirrorRouter.resolve`).
    public func resolve(_ name: RepositoryName, namespace: String?) throws(RegistryError) -> MirrorRoute? {
        try router.resolve(name, namespace: namespace)
    }

    public func shutdown() { clients.shutdown() }

    // MARK: Blobs

    /// Where a blob the local repository does not link comes from.
    public enum BlobSource: Sendable {
        /// Stored already (through another repository), and this route's upstream confirmed it.
        case stored(size: Int64)
        /// Being fetched; read it as it fills. `joined`: another request started the fetch.
        case filling(BlobFill, joined: Bool)
    }

    /// Where a manifest came from.
    public enum ManifestSource: Sendable {
        /// The kept copy, fresh (or by digest).
        case kept
        /// Fetched from upstream now (or revalidated with a HEAD).
        case upstream
        /// The upstream failed; the kept copy was served.
        case stale
    }

    /// Makes `digest` available through `route`: links a stored blob once the route's upstream
    /// confirms it, or joins (or starts) the one fill of that digest.
    public func blob(_ digest: Digest, route: MirrorRoute) async throws(RegistryError) -> BlobSource {
        do {
            if let size = try await store.blobSize(digest), try await mayConfirm(digest, route: route) {
                try await confirm(digest, route: route)
                try await store.link(digest, into: route.localRepository)
                return .stored(size: size)
            }
            // Not stored, or private (pushed, or fetched elsewhere with credentials): this
            // route's upstream must serve the bytes itself, and they must hash to the digest.
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(.unknown, "storage failed: \(error)")
        }
        let (fill, isNew) = try await startOrJoinFill(digest, route: route)
        if !isNew && fill.route != route {
            if let other = fill.route, clients.usesCredentials(other), other.registry != route.registry {
                // Those bytes come with another registry's credentials: not this route's to read.
                throw RegistryError(.unavailable, "blob \(digest) is being fetched through another upstream; try again shortly",
                                    headers: [("Retry-After", "5")], status: 503)
            }
            try await confirm(digest, route: route)
        }
        return .filling(fill, joined: !isNew)
    }

    /// Whether an upstream's confirmation (a HEAD) may link the stored `digest` into `route`:
    /// always for a blob fetched anonymously; for a private one only when `route`'s registry is
    /// the one it was fetched from with credentials; never for a pushed one.
    public func mayConfirm(_ digest: Digest, route: MirrorRoute) async throws -> Bool {
        guard let trusted = try await store.trustedConfirmers(of: digest) else { return true }
        return trusted.contains(route.registry)
    }

    /// HEAD of a blob the store lacks: asked upstream, nothing downloaded.
    public func headBlob(_ digest: Digest, route: MirrorRoute) async throws(RegistryError) -> Int64 {
        if let fill = fills[digest], fill.route == route { return try await fill.size() }
        let info: DescriptorInfo
        do {
            info = try await metrics.upstream(route.registry, .blobHead) { () async throws(UpstreamError) in
                try await clients.client(for: route).headBlob(route.upstreamRepository, digest)
            }
        } catch {
            throw error.registryError(notFound: .blobUnknown)
        }
        rememberConfirmed(digest, route: route)
        guard let size = info.size else {
            throw RegistryError(.unavailable, "upstream \(route.registry) sent no size for blob \(digest)", status: 502)
        }
        return size
    }

    private func confirm(_ digest: Digest, route: MirrorRoute) async throws(RegistryError) {
        let key = ScopeKey(route: route, digest: digest)
        if let until = confirmed[key], until > .now { return }
        do {
            _ = try await metrics.upstream(route.registry, .blobHead) { () async throws(UpstreamError) in
                try await clients.client(for: route).headBlob(route.upstreamRepository, digest)
            }
        } catch {
            throw error.registryError(notFound: .blobUnknown)
        }
        rememberConfirmed(digest, route: route)
    }

    private func rememberConfirmed(_ digest: Digest, route: MirrorRoute) {
        confirmed.insert(.now + configuration.blobRepositoryTTL, for: ScopeKey(route: route, digest: digest))
    }

    private func startOrJoinFill(_ digest: Digest, route: MirrorRoute) async throws(RegistryError) -> (BlobFill, Bool) {
        let (fill, isNew) = try fills.startOrJoin(digest, route: route)
        if isNew, let size = manifestSizes[RegistryDigest(registry: route.registry, digest: digest)] { fill.expect(size: size) }
        // Run apart from the request: the fill completes even if every client hangs up.
        if isNew, !background.submit({ [self] in await run(fill, route: route) }) {
            let error = RegistryError(.unavailable, "the registry is shutting down; try again", status: 503)
            fills.remove(fill)
            await discard(fill)
            fill.finish(.failed(error))
            throw error
        }
        return (fill, isNew)
    }

    private func run(_ fill: BlobFill, route: MirrorRoute) async {
        metrics.fillStarted()
        await registrySlots.acquire(route.registry)
        defer { registrySlots.release(route.registry) }
        await fillSlots.acquire()
        defer { fillSlots.release() }
        let started = ContinuousClock.now
        let outcome = await fetch(fill, route: route)
        if case .committed = outcome {
            metrics.fillEnded(committed: true, bytes: fill.bytesWritten, duration: .now - started)
        } else {
            metrics.fillEnded(committed: false, bytes: fill.bytesWritten, duration: .now - started)
        }
        fills.remove(fill)
        fill.finish(outcome)
    }

    /// Fetches, resuming with `Range` after a dropped connection, verifies, and commits.
    /// Every attempt counts, whether it made progress or not; all of them together end by
    /// `fillTimeout`, and each fails when its rate stays under `fillMinRate` for the window.
    private func fetch(_ fill: BlobFill, route: MirrorRoute) async -> BlobFill.Outcome {
        let client = clients.client(for: route)
        var attempt = 0
        var verified = false
        let started = ContinuousClock.now
        let deadline = started + configuration.fillTimeout
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { return await timedOut(fill, route: route) }
            let offset = fill.bytesWritten
            fill.prepareAttempt(from: offset)
            let timeouts = HTTPTimeouts(connect: min(.seconds(10), remaining), lowSpeedLimit: configuration.fillMinRate,
                                        lowSpeedTime: configuration.fillMinRateWindow, total: remaining)
            do {
                let result = try await metrics.upstream(route.registry, .blob) { () async throws(UpstreamError) in
                    try await client.blob(route.upstreamRepository, fill.digest, range: offset > 0 ? (offset, nil) : nil,
                                          to: fill.writeDescriptor, observer: fill, timeouts: timeouts)
                }
                // The client verifies every whole (200) body; a resumed (206) one is checked below.
                verified = result.status == 200
                break
            } catch {
                if Task.isCancelled {
                    // Shutdown's deadline passed: nothing half-written stays behind.
                    logger.info("blob fill cancelled by shutdown", metadata: ["oci.digest": "\(fill.digest)", "upstream": "\(route)",
                                                                            "bytes": "\(fill.bytesWritten)"])
                    await discard(fill)
                    return .failed(RegistryError(.unavailable, "the registry is shutting down; try again", status: 503))
                }
                if let refusal = fill.refusal {
                    // What the upstream sent was refused (a lying size or range, too many bytes,
                    // no staging room): asking again would get the same.
                    logger.warning("blob fill refused the upstream's answer", metadata: [
                        "oci.digest": "\(fill.digest)", "upstream": "\(route)", "error": "\(refusal.message)",
                    ])
                    await discard(fill)
                    return .failed(refusal)
                }
                if ContinuousClock.now >= deadline { return await timedOut(fill, route: route) }
                attempt += 1
                guard error.isTransient, attempt < configuration.resumeAttempts else {
                    logger.warning("blob fill failed", metadata: ["oci.digest": "\(fill.digest)", "upstream": "\(route)", "error": "\(error)"])
                    await discard(fill)
                    return .failed(error.registryError(notFound: .blobUnknown))
                }
                logger.info("blob fill interrupted; resuming", metadata: [
                    "oci.digest": "\(fill.digest)", "upstream": "\(route)", "offset": "\(fill.bytesWritten)", "error": "\(error)",
                ])
                try? await Task.sleep(for: min(.milliseconds(250 << min(attempt, 4)), max(.zero, deadline - .now)))
            }
        }
        if let declared = fill.declaredSize, fill.bytesWritten != declared {
            logger.warning("blob fill ended short", metadata: ["oci.digest": "\(fill.digest)", "bytes": "\(fill.bytesWritten)", "declared": "\(declared)"])
            await discard(fill)
            return .failed(RegistryError(.unavailable, "upstream \(route.registry) sent \(fill.bytesWritten) of the \(declared) bytes it declared for \(fill.digest)",
                                         status: 502))
        }
        let size = fill.bytesWritten
        do {
            if !verified {
                let actual = try await store.hashStaged(fill.staging, like: fill.digest)
                guard actual == fill.digest else {
                    logger.warning("resumed blob does not match its digest", metadata: ["oci.digest": "\(fill.digest)", "actual": "\(actual)"])
                    await discard(fill)
                    return .failed(RegistryError(.unavailable, "upstream \(route.registry) sent content for \(fill.digest) that hashes to \(actual)", status: 502))
                }
            }
            fill.markVerified()
            guard configuration.keepCopies else {
                await discard(fill)
                return .committed
            }
            // Durable before it is published: a crash must never leave a partial blob under its name.
            fsync(fill.writeDescriptor)
            let existed = try await store.blobSize(fill.digest) != nil
            try await store.commitStaged(fill.staging, digest: fill.digest, size: size, into: route.localRepository)
            if clients.usesCredentials(route) {
                try await store.markPrivate(fill.digest, fetchedFrom: route.registry, existedBefore: existed)
            } else {
                // Downloaded without credentials: anyone can, so no route's confirmation reveals it.
                try await store.markPublic(fill.digest)
            }
            logger.info("blob mirrored", metadata: [
                "oci.digest": "\(fill.digest)", "upstream": "\(route)", "bytes": "\(size)",
                "seconds": "\(ContinuousClock.now - started)",
            ])
            return .committed
        } catch {
            logger.error("committing a mirrored blob failed", metadata: ["oci.digest": "\(fill.digest)", "error": "\(error)"])
            await discard(fill)
            return .failed(RegistryError(.unknown, "storing \(fill.digest) failed"))
        }
    }

    private func timedOut(_ fill: BlobFill, route: MirrorRoute) async -> BlobFill.Outcome {
        logger.warning("blob fill timed out", metadata: ["oci.digest": "\(fill.digest)", "upstream": "\(route)", "bytes": "\(fill.bytesWritten)"])
        await discard(fill)
        return .failed(RegistryError(.unavailable, "upstream \(route.registry) did not deliver \(fill.digest) within mirror.fill.timeout (\(configuration.fillTimeout))",
                                     status: 504))
    }

        private func discard(_ fill: BlobFill) async {
        try? await store.driver.delete(fill.staging.path)
    }

    // MARK: Manifests

    /// The manifest `reference` of `route`, from the store when it is fresh, else from upstream.
    public func manifest(_ reference: ManifestReference, route: MirrorRoute) async throws(RegistryError) -> (StoredManifest, ManifestSource) {
        do {
            switch reference {
            case .digest(let digest):
                if let stored = try await store.manifest(digest, in: route.localRepository) { return (stored, .kept) }
                return (try await fetchManifest(reference, route: route, tag: nil), .upstream)
            case .tag(let tag):
                return try await manifest(tag: tag, route: route)
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(.unknown, "storage failed: \(error)")
        }
    }

    private func manifest(tag: Tag, route: MirrorRoute) async throws -> (StoredManifest, ManifestSource) {
        let key = TagKey(route: route, tag: tag)
        let local = try await store.resolve(tag, in: route.localRepository)
        if let local, let checked = tagsChecked[key], checked + configuration.tagTTL > .now,
           let stored = try await store.manifest(local, in: route.localRepository) {
            return (stored, .kept)
        }
        do {
            if let local {
                // HEAD does not count against pull limits; fetch only what changed.
                let head = try await metrics.upstream(route.registry, .manifestHead) { () async throws(UpstreamError) in
                    try await clients.client(for: route).headManifest(route.upstreamRepository, .tag(tag))
                }
                if let digest = head.digest, let stored = try await store.manifest(digest, in: route.localRepository) {
                    if digest != local { try await store.tag(tag, to: digest, in: route.localRepository) }
                    tagsChecked.insert(.now, for: key)
                    return (stored, .upstream)
                }
            }
            let stored = try await fetchManifest(.tag(tag), route: route, tag: tag)
            tagsChecked.insert(.now, for: key)
            return (stored, .upstream)
        } catch let error as UpstreamError {
            if let local, error.code != .notFound, let stored = try await store.manifest(local, in: route.localRepository) {
                logger.info("upstream failed; serving the kept manifest", metadata: [
                    "upstream": "\(route)", "tag": "\(tag)", "error": "\(error)",
                ])
                return (stored, .stale)
            }
            throw error.registryError(notFound: .manifestUnknown)
        } catch let error as RegistryError {
            if let local, error.code != .manifestUnknown, let stored = try await store.manifest(local, in: route.localRepository) {
                logger.info("upstream failed; serving the kept manifest", metadata: ["upstream": "\(route)", "tag": "\(tag)", "error": "\(error)"])
                return (stored, .stale)
            }
            throw error
        }
    }

    // MARK: Tags

    /// The route's tags as its upstream lists them (what a pull by tag would find), asked at most
    /// once per `tagttl`; when the upstream cannot be asked (down, timing out, rate limiting,
    /// refusing) or does not have the repository (one pushed here), the tags kept locally.
    public func tags(route: MirrorRoute) async throws(RegistryError) -> [String] {
        if let listed = upstreamTags[route], listed.fetched + configuration.tagTTL > .now { return listed.tags }
        do {
            let tags = try await tagFlights.run(route) { [clients, metrics] in
                try await metrics.upstream(route.registry, .tags) { () async throws(UpstreamError) in
                    try await clients.client(for: route).tags(route.upstreamRepository)
                }
            }
            // Cost in bytes: tag lists vary from one tag to thousands.
            upstreamTags.insert(UpstreamTagList(fetched: .now, tags: tags), for: route, cost: tags.reduce(64) { $0 + $1.utf8.count + 32 })
            return tags
        } catch {
            let upstream = error as? UpstreamError ?? UpstreamError(.other, "\(error)", registry: route.registry)
            let local: [String]?
            do {
                local = try await store.tags(in: route.localRepository)?.map(\.value)
            } catch {
                throw RegistryError(.unknown, "storage failed: \(error)")
            }
            guard let local else { throw upstream.registryError(notFound: .nameUnknown) }
            if upstream.code != .notFound {
                logger.info("upstream failed; listing the kept tags", metadata: ["upstream": "\(route)", "error": "\(upstream)"])
            }
            return local
        }
    }

    private func fetchManifest(_ reference: ManifestReference, route: MirrorRoute, tag: Tag?) async throws -> StoredManifest {
        let key = ManifestKey(route: route, reference: reference)
        return try await manifestFlights.run(key) { [store, clients, metrics, manifestSizes] in
            let result: ManifestResult
            do {
                result = try await metrics.upstream(route.registry, .manifest) { () async throws(UpstreamError) in
                    try await clients.client(for: route).manifest(route.upstreamRepository, reference)
                }
            } catch let error as UpstreamError {
                throw error.registryError(notFound: .manifestUnknown)
            }
            guard result.body.count <= Manifest.maximumSize else {
                throw RegistryError(.unavailable, "upstream \(route.registry) sent a manifest over \(Manifest.maximumSize) bytes", status: 502)
            }
            let stored = try await store.putMirroredManifest(result.body, digest: result.digest, in: route.localRepository, tag: tag)
            if let manifest = try? Manifest(bytes: result.body, declaredType: result.mediaType) {
                for descriptor in manifest.referencedBlobs {
                    guard let blob = Digest(descriptor.digest) else { continue }
                    manifestSizes.insert(descriptor.size, for: RegistryDigest(registry: route.registry, digest: blob))
                }
            }
            return stored
        }
    }
}

extension MirrorRoute {
    /// Roughly what a cache entry keyed by this route holds.
    var estimatedBytes: Int {
        localRepository.description.utf8.count + registry.utf8.count + upstreamRepository.description.utf8.count + 128
    }
}

struct RegistryDigest: Hashable, Sendable {
    var registry: String
    var digest: Digest
}

struct ScopeKey: Hashable, Sendable {
    var route: MirrorRoute
    var digest: Digest
}

struct TagKey: Hashable, Sendable {
    var route: MirrorRoute
    var tag: Tag
}

struct UpstreamTagList: Sendable {
    var fetched: ContinuousClock.Instant
    var tags: [String]
}

struct ManifestKey: Hashable, Sendable {
    var route: MirrorRoute
    var reference: ManifestReference
}
