import ArgumentParser
import Foundation
import Logging
import Server
import ServiceLifecycle

@main
struct Wharf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharf",
        abstract: "An edge container registry and pull-through mirror.",
        subcommands: [Serve.self, CheckConfig.self, CheckUpstreamCommand.self, PrefetchCommand.self, SignURLCommand.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the registry.")

    @Option(name: .shortAndLong, help: "A Distribution-style config.yml; without it, the embedded default (:5000, ./wharf-data).")
    var config: String?

    func run() async throws {
        let configuration = try loadConfiguration(config)
        let format = WharfLogHandler.Format(rawValue: configuration.log.formatter) ?? .text
        var fields: Logger.Metadata = [:]
        for (key, value) in configuration.log.fields { fields[key] = "\(value)" }
        LoggingSystem.bootstrap { [fields] label in
            WharfLogHandler(label: label, format: format, level: configuration.log.level, metadata: fields)
        }
        let logger = Logger(label: "wharf")
        // Once per process, before any metric is created.
        let metrics = configuration.openshift.metrics.enabled ? MetricsExporter.bootstrap(secret: configuration.openshift.metrics.secret) : nil
        // SIGHUP rereads the same file (and the environment).
        var reload: (@Sendable () throws -> Configuration)?
        if let path = config {
            reload = { try loadConfiguration(path) }
        }
        let group = ServiceGroup(
            services: [WharfServer(configuration: configuration, logger: logger, metricsExporter: metrics,
                                   reloadConfiguration: reload)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file (with REGISTRY_* overrides from the environment)."
    )

    @Argument(help: "The config.yml to check.")
    var file: String

    func run() throws {
        let configuration = try loadConfiguration(file)
        for warning in configuration.warnings { print("warning: \(warning)") }
        do {
            if let auth = try configuration.auth?.checkFiles() { print(auth) }
        } catch let error as ConfigurationError {
            throw ValidationError("configuration error: \(error.message)")
        }
        print("\(file): OK (listening on \(configuration.http.host):\(configuration.http.port), storage \(configuration.storage.rootDirectory))")
    }
}

/// Reads the file (or the embedded default) and applies the environment; configuration
/// errors become a one-line message and exit status 1.
func loadConfiguration(_ path: String?) throws -> Configuration {
    let text: String
    if let path {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read configuration file \(path)")
        }
        text = String(decoding: data, as: UTF8.self)
    } else {
        text = Configuration.embeddedDefaultYAML
    }
    do {
        return try Configuration.load(yaml: text, environment: ProcessInfo.processInfo.environment)
    } catch let error as ConfigurationError {
        throw ValidationError("configuration error: \(error.message)")
    }
}
