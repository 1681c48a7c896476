@testable import Server
import Testing

@Suite struct ConfigurationTests {
    static let minimal = """
        version: 0.1
        http:
          addr: 127.0.0.1:6000
        storage:
          filesystem:
            rootdirectory: /tmp/store
        """

    func message(_ yaml: String, environment: [String: String] = [:]) -> String? {
        do {
            _ = try Configuration.load(yaml: yaml, environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func readsAMinimalFile() throws {
        let configuration = try Configuration.load(yaml: Self.minimal, environment: [:])
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.http.port == 6000)
        #expect(configuration.storage.rootDirectory == "/tmp/store")
        #expect(configuration.storage.deleteEnabled == false)
        #expect(configuration.repository == Configuration.RepositoryOptions())
    }

    @Test func warningsOfMiddlewareReadersAreKeptAlongsideTheEnvironments() throws {
        let yaml = Self.minimal + """

            middleware:
              storage:
                - name: redirect
                  options: {}
            """
        let configuration = try Configuration.load(yaml: yaml, environment: ["REGISTRY_PORT": "tcp://10.0.0.1:5000"])
        #expect(configuration.warnings.contains { $0.contains("storage middleware redirect is not supported") })
        #expect(configuration.warnings.contains { $0.contains("REGISTRY_PORT") })
    }

    @Test func theEmbeddedDefaultListensOn5000() throws {
        let configuration = try Configuration.load(yaml: Configuration.embeddedDefaultYAML, environment: [:])
        #expect(configuration.http.port == 5000)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.storage.rootDirectory == "./wharf-data")
    }

    @Test func environmentOverridesTheFile() throws {
        let configuration = try Configuration.load(yaml: Self.minimal, environment: [
            "REGISTRY_HTTP_ADDR": ":7000",
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/registry",
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",
            "REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_MIRRORPULLTHROUGH": "false",
            "REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_BLOBREPOSITORYCACHETTL": "20m",
            "HOME": "/root",
        ])
        #expect(configuration.http.port == 7000)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.storage.rootDirectory == "/srv/registry")
        #expect(configuration.storage.deleteEnabled)
        #expect(configuration.repository.mirrorPullthrough == false)
        #expect(configuration.repository.blobRepositoryCacheTTL == .seconds(1200))
    }

    @Test func unknownEnvironmentNamesAreWarningsNotErrors() throws {
        // Kubernetes injects REGISTRY_PORT and friends for a Service named "registry".
        let configuration = try Configuration.load(yaml: Self.minimal, environment: ["REGISTRY_PORT": "tcp://10.0.0.1:5000"])
        #expect(configuration.warnings.contains { $0.contains("REGISTRY_PORT") })
    }

    @Test func readsOpenShiftMiddlewareOptions() throws {
        let configuration = try Configuration.load(yaml: Self.minimal + """

            middleware:
              repository:
                - name: openshift
                  options:
                    acceptschema2: false
                    pullthrough: true
                    mirrorpullthrough: false
                    enforcequota: false
                    projectcachettl: 1m
                    blobrepositorycachettl: 10m
            """, environment: [:])
        #expect(configuration.repository.acceptSchema2 == false)
        #expect(configuration.repository.mirrorPullthrough == false)
        #expect(!configuration.repository.enforceQuota)
        #expect(configuration.repository.blobRepositoryCacheTTL == .seconds(600))
    }

    @Test(arguments: [
        ("http:\n  addrr: :5000", "http.addrr: unknown key"),
        ("storage:\n  filesystem: {rootdirectory: /x}\n  delete: {enabled: maybe}", "storage.delete.enabled: \"maybe\" is not true or false"),
        ("http: {addr: nowhere}", "http.addr: \"nowhere\""),
        ("storage:\n  s3: {bucket: x}", "storage.s3: this storage driver is not supported"),
        ("log: {level: loud}", "log.level: \"loud\""),
        ("storage: {filesystem: {rootdirectory: /x}}\nmiddleware:\n  repository:\n    - name: openshift\n      options: {pullthrough: 3}", "middleware.repository[0].options.pullthrough"),
        ("storage: {filesystem: {rootdirectory: /x}}\nmiddleware:\n  repository:\n    - name: openshift\n      options: {projectcachettl: soon}", "projectcachettl: \"soon\" is not a duration"),
        ("surprise: 1", "surprise: unknown key"),
        ("storage: {filesystem: {rootdirectory: /x}}\nmiddleware:\n  repository:\n    - name: openshift\n      options: {enforcequota: true}", "options.enforcequota: true is not supported"),
    ])
    func badInputNamesTheKey(snippet: String, expected: String) {
        let message = message("version: 0.1\n" + snippet)
        #expect(message?.contains(expected) == true, "\(message ?? "no error")")
    }

    @Test func storageIsRequired() {
        #expect(message("version: 0.1\nhttp:\n  addr: :5000")?.contains("storage: required") == true)
        #expect(message("version: 0.1\nstorage:\n  delete: {enabled: true}")?.contains("storage: no storage driver") == true)
        #expect(message("version: 0.1", environment: ["REGISTRY_STORAGE": "filesystem"]) == nil)
    }

    @Test func versionIsRequired() {
        #expect(message("http:\n  addr: :5000")?.contains("version: required") == true, "\(message("http:\n  addr: :5000") ?? "")")
        #expect(message("version: 2")?.contains("version") == true)
    }

    @Test(arguments: [("10s", 10.0), ("1h30m", 5400.0), ("500ms", 0.5), ("168h", 604800.0), ("1000000000", 1.0)])
    func parsesGoDurations(text: String, seconds: Double) {
        #expect(GoDuration.parse(text) == .nanoseconds(Int64(seconds * 1e9)))
    }
}
