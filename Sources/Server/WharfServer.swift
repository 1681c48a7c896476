import CDN
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
    /// The Prometheus registry `MetricsExporter.bootstrap` made; nil when metrics are off.
    let metricsExporter: MetricsExporter?

    public init(configuration: Configuration, logger: Logger, metricsExporter: MetricsExporter? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.metricsExporter = metricsExporter
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
        let store = ContentStore(driver: driver)
        var mirror: PullThrough?
        if let mirrorConfiguration = configuration.mirrorConfiguration {
            try await store.removeStaleStagingFiles()
            mirror = try PullThrough(configuration: mirrorConfiguration, store: store, logger: logger)
            logger.info("mirroring", metadata: [
                "default": "\(mirrorConfiguration.defaultRegistry ?? "none")",
                "upstreams": "\(mirrorConfiguration.upstreams.map(\.registry))",
                "unlisted": "\(mirrorConfiguration.allowUnlisted)",
            ])
        }
        defer { mirror?.shutdown() }
        settings.redirectDisabled = configuration.storage.redirectDisabled
        let serverMetrics = metricsExporter.map { _ in ServerMetrics() }
        var cdn = try await makeCDNSettings(store: store)
        cdn.metrics = serverMetrics
        defer { cdn.originFetcher?.shutdown() }
        let access = try makeAccessControl()
        let registryHandler = RegistryHandler(store: store, settings: settings, mirror: mirror, cdn: cdn, access: access, logger: logger)
        // The metrics endpoint sits in front: its own secret, never client auth or limits.
        let handler = MetricsEndpoint(inner: registryHandler, exporter: metricsExporter)
        let limits = RequestLimits(read: configuration.openshift.requests.read, write: configuration.openshift.requests.write)
        if !limits.isUnlimited {
            logger.info("request limits", metadata: [
                "read": "\(configuration.openshift.requests.read)", "write": "\(configuration.openshift.requests.write)",
            ])
        }
        let tls: TLSSettings? = if let certificate = configuration.http.tlsCertificate, let key = configuration.http.tlsKey {
            try TLSSettings(certificatePath: certificate, keyPath: key)
        } else {
            nil
        }
        let server = HTTPServer(host: configuration.http.host, port: configuration.http.port, handler: handler,
                                extraHeaders: configuration.http.headers, accessLog: !configuration.log.accessLogDisabled,
                                tls: tls, limits: limits, metrics: serverMetrics, logger: logger)
        logger.info("serving", metadata: ["storage": "\(configuration.storage.rootDirectory)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await server.run() }
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
