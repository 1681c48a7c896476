import Logging
import Mirror
import ServiceLifecycle
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
        let handler = RegistryHandler(store: store, settings: settings, mirror: mirror)
        let server = HTTPServer(host: configuration.http.host, port: configuration.http.port, handler: handler,
                                extraHeaders: configuration.http.headers, logger: logger)
        logger.info("serving", metadata: ["storage": "\(configuration.storage.rootDirectory)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await server.run()
            }
        } catch is CancellationError {
            // Graceful shutdown (SIGTERM/SIGINT) cancels the server: a normal exit.
        }
        logger.info("stopped")
    }
}
