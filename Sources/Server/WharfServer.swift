import CDN
import ImageStreams
import Logging
import Mirror
import ServiceLifecycle
import UnixSignals
import Storage

/// Wharf as a service: the configuration turned into a store, a handler and a listening
/// server. The composition root: the one place concrete types are chosen.
public struct WharfServer: Service {
    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        for warning in configuration.warnings { logger.warning("configuration: \(warning)") }
        let driver = FilesystemDriver(root: configuration.storage.rootDirectory)
        try await driver.putContent(StoragePath([".wharf-write-check"]), [])
        try await driver.delete(StoragePath([".wharf-write-check"]))

        var settings = RegistryHandler.Settings()
        settings.deleteEnabled = configuration.storage.deleteEnabled
        settings.readOnly = configuration.storage.readOnly
        settings.catalogMaxEntries = configuration.catalogMaxEntries
        settings.imageStreamAdminToken = configuration.imageStreamsAdminToken
        settings.acceptSchema2 = configuration.repository.acceptSchema2
        let store = ContentStore(driver: driver)
        var mirror: PullThrough?
        let imageStreams = loadImageStreams()
        if let mirrorConfiguration = configuration.mirrorConfiguration {
            try await store.removeStaleStagingFiles()
            mirror = try PullThrough(configuration: mirrorConfiguration, store: store, logger: logger, imageStreams: imageStreams)
            logger.info("mirroring", metadata: [
                "default": "\(mirrorConfiguration.defaultRegistry ?? "none")",
                "upstreams": "\(mirrorConfiguration.upstreams.map(\.registry))",
                "unlisted": "\(mirrorConfiguration.allowUnlisted)",
            ])
        }
        defer { mirror?.shutdown() }
        settings.redirectDisabled = configuration.storage.redirectDisabled
        let cdn = try await makeCDNSettings(store: store)
        defer { cdn.originFetcher?.shutdown() }
        let handler = RegistryHandler(store: store, settings: settings, mirror: mirror, cdn: cdn, logger: logger)
        let tls: TLSSettings? = if let certificate = configuration.http.tlsCertificate, let key = configuration.http.tlsKey {
            try TLSSettings(certificatePath: certificate, keyPath: key)
        } else {
            nil
        }
        let server = HTTPServer(host: configuration.http.host, port: configuration.http.port, handler: handler,
                                extraHeaders: configuration.http.headers, accessLog: !configuration.log.accessLogDisabled,
                                tls: tls, logger: logger)
        logger.info("serving", metadata: ["storage": "\(configuration.storage.rootDirectory)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await server.run() }
                    if let imageStreams {
                        group.addTask { await reloadOnChange(imageStreams) }
                    }
                    if let tls {
                        group.addTask { await reloadOnHangUp(tls) }
                        group.addTask { await reloadOnFileChange(tls) }
                    }
                    // The server ends only by cancellation or failure; then the reloader goes too.
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown (SIGTERM/SIGINT) cancels the server: a normal exit.
        }
        logger.info("stopped")
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

    /// SIGHUP reloads the certificate and key (after a renewal); a bad pair keeps the old one.
    private func reloadOnHangUp(_ tls: TLSSettings) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            do {
                try tls.reload()
                logger.info("TLS certificate reloaded", metadata: ["certificate": "\(tls.certificatePath)"])
            } catch {
                logger.error("TLS certificate reload failed; keeping the current one", metadata: ["error": "\(error)"])
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

    /// The CDN roles this configuration gives: origin (redirects), edge (verifies), or both.
    private func makeCDNSettings(store: ContentStore) async throws -> CDNSettings {
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
                                                  logger: logger)
            logger.info("serving as a CDN edge", metadata: ["cdn.origin": "\(edge.origin)"])
        }
        return cdn
    }
}
