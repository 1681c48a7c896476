import Testing
@testable import Server

@Suite struct OpenShiftConfigurationTests {
    static let base = ConfigurationTests.minimal

    @Test func metricsAndRequestLimitsAreReadFromTheFile() throws {
        let configuration = try Configuration.load(yaml: Self.base + """

            openshift:
              version: 1.0
              metrics:
                enabled: true
                secret: hunter2
              requests:
                read:
                  maxrunning: 10
                  maxinqueue: 20
                  maxwaitinqueue: 2m
                write:
                  maxrunning: 3
            """, environment: [:])
        #expect(configuration.openshift.metrics.enabled)
        #expect(configuration.openshift.metrics.secret == "hunter2")
        #expect(configuration.openshift.requests.read == .init(maxRunning: 10, maxInQueue: 20, maxWaitInQueue: .seconds(120)))
        #expect(configuration.openshift.requests.write == .init(maxRunning: 3))
        #expect(!configuration.warnings.contains { $0.hasPrefix("openshift") })
    }

    @Test func theOpenShiftEnvironmentVariablesSetThem() throws {
        let configuration = try Configuration.load(yaml: Self.base, environment: [
            "REGISTRY_OPENSHIFT_METRICS_ENABLED": "true",
            "REGISTRY_OPENSHIFT_METRICS_SECRET": "from-env",
            "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXRUNNING": "5",
            "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXINQUEUE": "7",
            "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXWAITINQUEUE": "1500ms",
            "REGISTRY_OPENSHIFT_REQUESTS_WRITE_MAXRUNNING": "2",
        ])
        #expect(configuration.openshift.metrics.enabled)
        #expect(configuration.openshift.metrics.secret == "from-env")
        #expect(configuration.openshift.requests.read == .init(maxRunning: 5, maxInQueue: 7, maxWaitInQueue: .milliseconds(1500)))
        #expect(configuration.openshift.requests.write == .init(maxRunning: 2))
    }

    @Test func defaultsAreOffAndUnlimited() throws {
        let configuration = try Configuration.load(yaml: Self.base, environment: [:])
        #expect(!configuration.openshift.metrics.enabled)
        #expect(configuration.openshift.requests.read.isUnlimited)
        #expect(configuration.openshift.requests.write.isUnlimited)
    }

    @Test(arguments: [
        ("openshift:\n  metrics:\n    enabled: true", "openshift.metrics.secret: required when metrics are enabled"),
        ("openshift:\n  metrics:\n    enabled: maybe\n    secret: x", "openshift.metrics.enabled: \"maybe\" is not true or false"),
        ("openshift:\n  metrics:\n    endpoint: /x", "openshift.metrics.endpoint: unknown key"),
        ("openshift:\n  requests:\n    read:\n      maxrunning: -1", "openshift.requests.read.maxrunning: \"-1\" is not a whole number"),
        ("openshift:\n  requests:\n    write:\n      maxwaitinqueue: soon", "openshift.requests.write.maxwaitinqueue: \"soon\" is not a duration"),
        ("openshift:\n  requests:\n    delete:\n      maxrunning: 1", "openshift.requests.delete: unknown key"),
        ("openshift:\n  frobnicate: true", "openshift.frobnicate: unknown key"),
    ])
    func badValuesNameTheirKeyPath(snippet: String, message: String) {
        do {
            _ = try Configuration.load(yaml: Self.base + "\n" + snippet, environment: [:])
            Issue.record("accepted: \(snippet)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func openShiftKeysWharfDoesNotUseAreAcceptedWithAWarning() throws {
        let configuration = try Configuration.load(yaml: Self.base + "\nopenshift:\n  kubeconfig: /etc/kube\n  quota:\n    enabled: false", environment: [:])
        #expect(configuration.warnings.contains("openshift.kubeconfig: not supported by Wharf yet; ignored"))
        #expect(configuration.warnings.contains("openshift.quota: not supported by Wharf yet; ignored"))
    }

    @Test func anEnabledQuotaStopsStartUpSinceNoneIsEnforced() {
        #expect(throws: ConfigurationError.self) {
            try Configuration.load(yaml: Self.base + "\nopenshift:\n  quota:\n    enabled: true", environment: [:])
        }
    }
}
