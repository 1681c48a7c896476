import CDN
import Foundation
import ImageStreams
import Logging
import Mirror
import Notifications
import Policy
import ServiceLifecycle
import UnixSignals
import Storage

/// Wharf as a service: the configuration turned into a store, a handler and a listening
/// server. The composition root: the one place concrete types are chosen.
public struct WharfServer: Service {
    public let configuration: Configuration
    let logger: Logger
    /// The Prometheus registry `MetricsExporter.bootstrap` made; nil when metrics are off.
    let metricsExporter: MetricsExporter?
    /// Reads the configuration again (the file and the environment), for SIGHUP; nil when
    /// there is no file to reread.
    let reloadConfiguration: (@Sendable () throws -> Configuration)?

    public init(configuration: Configuration, logger: Logger, metricsExporter: MetricsExporter? = nil,
                reloadConfiguration: (@Sendable () throws -> Configuration)? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.metricsExporter = metricsExporter
        self.reloadConfiguration = reloadConfiguration
    }

    public func run() async throws {
        for warning in configuration.warnings { logger.warning("configuration: \(warning)") }
        let driver = FilesystemDriver(root: configuration.storage.rootDirectory)
        do {
            try await driver.putContent(StoragePath([".wharf-write-check"]), [])
            try await driver.delete(StoragePath([".wharf-write-check"]))
        } catch let error as StorageError {
            let root = configuration.storage.rootDirectory
            let absolute = root.hasPrefix("/") ? "" : " (\(FileManager.default.currentDirectoryPath)/\(root))"
            throw ConfigurationError("storage.filesystem.rootdirectory: \"\(root)\"\(absolute) cannot be created or written: \(error.message)")
        }

        var settings = RegistryHandler.Settings()
        settings.deleteEnabled = configuration.storage.deleteEnabled
        settings.readOnly = configuration.storage.readOnly
        settings.catalogMaxEntries = configuration.catalogMaxEntries
        settings.imageStreamAdminToken = configuration.imageStreamsAdminToken
        settings.acceptSchema2 = configuration.repository.acceptSchema2
        let retention = configuration.cacheRetention
        let store = ContentStore(driver: driver, retention: retention.isEnabled ? retention : nil)
        // Blob fills run here, apart from the requests that start them, so a shutdown can wait for them.
        let background = BackgroundTasks()
        var mirror: PullThrough?
        let imageStreams = loadImageStreams()
        if let mirrorConfiguration = configuration.mirrorConfiguration {
            try await store.removeStaleStagingFiles()
            mirror = try PullThrough(configuration: mirrorConfiguration, store: store, background: background, logger: logger,
                                     imageStreams: imageStreams)
            logger.info("mirroring", metadata: [
                "default": "\(mirrorConfiguration.defaultRegistry ?? "none")",
                "upstreams": "\(mirrorConfiguration.upstreams.map(\.registry))",
                "unlisted": "\(mirrorConfiguration.allowUnlisted)",
            ])
        }
        defer { mirror?.shutdown() }
        settings.redirectDisabled = configuration.storage.redirectDisabled
        let serverMetrics = metricsExporter.map { _ in ServerMetrics() }
        var cdn = try await makeCDNSettings(store: store, background: background)
        cdn.metrics = serverMetrics
        defer { cdn.originFetcher?.shutdown() }
        let access = try makeAccessControl()
        let limits = RequestLimits(read: configuration.openshift.requests.read, write: configuration.openshift.requests.write)
        if !limits.isUnlimited {
            logger.info("request limits", metadata: [
                "read": "\(configuration.openshift.requests.read)", "write": "\(configuration.openshift.requests.write)",
            ])
        }
        let tls: TLSSettings? = if let certificate = configuration.http.tlsCertificate, let key = configuration.http.tlsKey {
            try TLSSettings(certificatePath: certificate, keyPath: key, clientCAPaths: configuration.http.tlsClientCAs,
                            clientAuth: configuration.http.tlsClientAuth, minimumVersion: configuration.http.tlsMinimumVersion)
        } else {
            nil
        }
        let notifier = try makeNotifier()
        defer { notifier?.shutdown() }
        let events = notifier.map { RegistryEvents(notifier: $0, scheme: tls == nil ? "http" : "https") }
        let registryHandler = RegistryHandler(store: store, settings: settings, mirror: mirror, cdn: cdn, access: access,
                                              events: events, logger: logger)
        // The metrics endpoint sits in front: its own secret, never client auth or limits.
        let handler = MetricsEndpoint(inner: registryHandler, exporter: metricsExporter)
        let server = HTTPServer(host: configuration.http.host, port: configuration.http.port, handler: handler,
                                extraHeaders: configuration.http.headers, accessLog: !configuration.log.accessLogDisabled,
                                tls: tls, limits: limits, metrics: serverMetrics, timeouts: configuration.http.timeouts,
                                maxConnections: configuration.http.maxConnections, logger: logger)
        logger.info("serving", metadata: ["storage": "\(configuration.storage.rootDirectory)"])
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let notifier { group.addTask { await notifier.run() } }
                if let imageStreams { group.addTask { await reloadOnChange(imageStreams) } }
                let policy = reloadConfiguration == nil ? nil : mirror?.router.policy
                if tls != nil || policy != nil {
                    group.addTask { await reloadOnHangUp(tls: tls, policy: policy) }
                }
                if let tls { group.addTask { await reloadOnFileChange(tls) } }
                if retention.isEnabled {
                    logger.info("cache retention", metadata: [
                        "cache.maxsize": "\(retention.maxSize.map(String.init) ?? "none")",
                        "cache.ttl": "\(retention.ttl.map { "\($0)" } ?? "none")", "cache.interval": "\(retention.interval)",
                    ])
                    let sweeper = CacheSweeper(store: store, logger: logger)
                    group.addTask { await sweeper.run() }
                }
                let purging = configuration.storage.uploadPurging
                if purging.enabled && !configuration.storage.readOnly {
                    logger.info("upload purging", metadata: [
                        "age": "\(purging.age)", "interval": "\(purging.interval)", "dryrun": "\(purging.dryRun)",
                    ])
                    let purger = UploadPurger(store: store, settings: purging, logger: logger)
                    group.addTask { await purger.run() }
                }
                try await serveAndDrain(server, background: background)
                // Events of the last requests get a short chance to reach their endpoints.
                if let notifier { await notifier.flush(within: Self.notificationFlushTime) }
                group.cancelAll()
            }
        } catch is CancellationError {
            // Cancelled from outside: a normal exit too.
        }
        logger.info("stopped")
    }

    /// How long queued notification events may take to go out after the drain.
    static let notificationFlushTime: Duration = .seconds(3)

    /// Serves until a graceful shutdown (SIGTERM, SIGINT), then drains: no new connections,
    /// while requests under way and blob fills may finish for `http.draintimeout`; whatever is
    /// still running then is cancelled (a cancelled fill deletes its staging file). Returns once
    /// everything has ended.
    private func serveAndDrain(_ server: HTTPServer, background: BackgroundTasks) async throws {
        let drainTimeout = configuration.http.drainTimeout
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { work in
                    work.addTask { await background.run() }
                    // Returns once a graceful shutdown has drained the connections.
                    try await server.run()
                    // No request can start a fill now; wait for those still running.
                    background.finish()
                }
                return true
            }
            group.addTask {
                try await gracefulShutdown()
                try await Task.sleep(for: drainTimeout)
                return false
            }
            let drained = try await group.next() ?? true
            group.cancelAll()
            if !drained {
                logger.warning("drain timeout passed; cancelling the requests and blob fills still running",
                               metadata: ["http.draintimeout": "\(drainTimeout)"])
            }
        }
    }

    /// The notification endpoints' sender, or nil when none are configured.
    private func makeNotifier() throws -> Notifier? {
        let notifications = configuration.notifications
        guard !notifications.endpoints.isEmpty else { return nil }
        let source = Event.SourceRecord(addr: "\(ProcessInfo.processInfo.hostName):\(configuration.http.port)",
                                        instanceID: UUID().uuidString.lowercased())
        for endpoint in notifications.endpoints {
            logger.info("notifications endpoint", metadata: [
                "endpoint": "\(endpoint.name)", "url": "\(endpoint.url)", "timeout": "\(endpoint.timeout)",
                "threshold": "\(endpoint.threshold)", "backoff": "\(endpoint.backoff)",
            ])
        }
        return try Notifier(configuration: notifications, source: source, logger: logger)
    }

    private func loadImageStreams() -> ImageStreamCatalog? {
        guard let directory = configuration.imageStreamsDirectory else { return nil }
        let (catalog, problems) = ImageStreamCatalog.load(directory: directory)
        for problem in problems { logger.warning("imagestreams: \(problem)") }
        logger.info("imagestreams loaded", metadata: ["directory": "\(directory)", "streams": "\(catalog.streams.count)"])
        return catalog
    }

    /// ImageStream files edited, added or removed on disk are served within a few seconds; all
    /// is reread at least every `projectcachettl` whatever the files' times say.
    private func reloadOnChange(_ catalog: ImageStreamCatalog) async {
        while (try? await Task.sleep(for: .seconds(2))) != nil {
            guard let problems = catalog.reloadIfChanged(maxAge: configuration.repository.projectCacheTTL) else { continue }
            for problem in problems { logger.warning("imagestreams: \(problem)") }
            logger.info("imagestreams reloaded", metadata: ["directory": "\(catalog.directory)", "streams": "\(catalog.streams.count)"])
        }
    }

    /// SIGHUP reloads the certificate and key (after a renewal) and the registry policy
    /// (`policy.registries` allow/block rules, from the configuration file and environment);
    /// whatever fails to load keeps the one in force.
    private func reloadOnHangUp(tls: TLSSettings?, policy: LivePolicy?) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            if let tls {
                do {
                    try tls.reload()
                    logger.info("TLS certificate reloaded", metadata: ["certificate": "\(tls.certificatePath)"])
                } catch {
                    logger.error("TLS certificate reload failed; keeping the current one", metadata: ["error": "\(error)"])
                }
            }
            if let policy, let reloadConfiguration {
                do {
                    let fresh = try reloadConfiguration().policy
                    guard fresh != policy.current else { continue }
                    policy.replace(with: fresh)
                    logger.info("registry policy reloaded", metadata: [
                        "policy.default": "\(fresh.defaultAction)", "policy.rules": "\(fresh.rules.count)",
                    ])
                } catch {
                    logger.error("configuration reload failed; keeping the registry policy in force", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// A renewed certificate or key on disk is picked up within a few seconds, SIGHUP or not.
    private func reloadOnFileChange(_ tls: TLSSettings) async {
        var stamp = tls.fileStamp()
        while (try? await Task.sleep(for: .seconds(2))) != nil {
            let now = tls.fileStamp()
            guard now != stamp else { continue }
            // Wait for both files of a renewal to land before reading them.
            try? await Task.sleep(for: .milliseconds(500))
            stamp = tls.fileStamp()
            do {
                try tls.reload()
                logger.info("TLS certificate reloaded after a change on disk", metadata: ["certificate": "\(tls.certificatePath)"])
            } catch {
                logger.error("TLS certificate reload failed; keeping the current one", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Client authentication (`auth:`), or nil for an open registry.
    private func makeAccessControl() throws -> AccessControl? {
        guard let auth = configuration.auth else { return nil }
        let access = try AccessControl(settings: auth, usesTLS: configuration.http.tlsCertificate != nil,
                                       listeningHost: configuration.http.host, port: configuration.http.port, logger: logger)
        logger.info("client authentication on", metadata: [
            "auth.htpasswd": "\(auth.htpasswdPath)", "auth.users": "\(access.passwords.userCount)",
            "auth.service": "\(auth.service)", "auth.realm": "\(auth.tokenRealm ?? "<scheme>://<Host>/auth/token")",
        ])
        if auth.signingKey == nil && auth.signingKeyFile == nil {
            logger.info("auth.token: no signing key configured; tokens are signed with a key made at start-up")
        }
        return access
    }

    /// The CDN roles this configuration gives: origin (redirects), edge (verifies), or both.
    private func makeCDNSettings(store: ContentStore, background: BackgroundTasks) async throws -> CDNSettings {
        var cdn = CDNSettings()
        if let cloudFront = configuration.cloudFront {
            let redirector = try BlobRedirector(configuration: cloudFront)
            for warning in redirector.warnings { logger.warning("cdn: \(warning)") }
            cdn.redirector = redirector
            // Edges fetch with the URL their client brought: accept our own signatures.
            cdn.verifier = try CloudFrontVerifier(publicKeys: [redirector.signer.keyPairID: redirector.signer.publicKeyPEM])
            cdn.signedBaseURL = redirector.baseURL
            logger.info("redirecting blob downloads", metadata: ["cdn.baseurl": "\(redirector.baseURL)"])
        }
        if let edge = configuration.cdnEdge {
            cdn.verifier = try CloudFrontVerifier(configuration: edge)
            cdn.signedBaseURL = edge.baseURL
            try await store.removeStaleStagingFiles()
            cdn.originFetcher = try OriginFetcher(origin: edge.origin, store: store, certsDirectory: configuration.mirrorConfiguration?.certsDirectory,
                                                  background: background, logger: logger)
            logger.info("serving as a CDN edge", metadata: ["cdn.origin": "\(edge.origin)"])
        }
        return cdn
    }
}
