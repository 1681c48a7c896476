import Notifications
@testable import Server
import Testing

/// `notifications` read in Distribution's shape, with its defaults, and refused with a key path.
@Suite struct NotificationsConfigurationTests {
    func load(_ notifications: String) throws -> Configuration {
        try Configuration.load(yaml: ConfigurationTests.minimal + "\n" + notifications, environment: [:])
    }

    func message(_ notifications: String) -> String? {
        do {
            _ = try load(notifications)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func readsDistributionsEndpointShape() throws {
        let configuration = try load("""
            notifications:
              events:
                includereferences: true
              endpoints:
                - name: alistener
                  url: https://mylistener.example.com/event
                  headers:
                    Authorization: [Bearer abc]
                    X-Single: one
                  timeout: 500ms
                  threshold: 5
                  backoff: 2s
                  ignoredmediatypes:
                    - application/octet-stream
                  ignore:
                    mediatypes: [application/vnd.oci.image.config.v1+json]
                    actions: [pull]
                - name: paused
                  url: http://127.0.0.1:1/
                  disabled: true
                - name: defaults
                  url: http://127.0.0.1:2/
            """)
        #expect(!configuration.warnings.contains { $0.contains("notifications") })
        #expect(configuration.notifications.includeReferences)
        let endpoints = configuration.notifications.endpoints
        #expect(endpoints.map(\.name) == ["alistener", "defaults"])
        let first = endpoints[0]
        #expect(first.url == "https://mylistener.example.com/event")
        #expect(first.headers == [.init(name: "Authorization", value: "Bearer abc"), .init(name: "X-Single", value: "one")])
        #expect(first.timeout == .milliseconds(500))
        #expect(first.threshold == 5)
        #expect(first.backoff == .seconds(2))
        #expect(first.ignoredMediaTypes == ["application/octet-stream", "application/vnd.oci.image.config.v1+json"])
        #expect(first.ignoredActions == [.pull])
        // Distribution's defaults: 1 s timeout, threshold 10, 1 s backoff.
        let defaults = endpoints[1]
        #expect(defaults.timeout == .seconds(1) && defaults.threshold == 10 && defaults.backoff == .seconds(1))
        #expect(defaults.ignoredMediaTypes.isEmpty && defaults.ignoredActions.isEmpty)
    }

    @Test func badEndpointsAreRefusedWithTheirKeyPath() {
        #expect(message("notifications:\n  endpoints:\n    - url: http://x/\n")?.contains("notifications.endpoints[0].name: required") == true)
        #expect(message("notifications:\n  endpoints:\n    - name: a\n      url: ftp://x/\n")?.contains("notifications.endpoints[0].url") == true)
        #expect(message("notifications:\n  endpoints:\n    - name: a\n      url: http://x/\n      timeout: soon\n")?
            .contains("notifications.endpoints[0].timeout") == true)
        #expect(message("notifications:\n  endpoints:\n    - name: a\n      url: http://x/\n      ignore:\n        actions: [upload]\n")?
            .contains("notifications.endpoints[0].ignore.actions: \"upload\"") == true)
        #expect(message("notifications:\n  endpoints:\n    - name: a\n      url: http://x/\n      retries: 3\n")?
            .contains("notifications.endpoints[0].retries: unknown key") == true)
        #expect(message("notifications:\n  endpoints:\n    - name: a\n      url: http://x/\n    - name: a\n      url: http://y/\n")?
            .contains("is used by another endpoint") == true)
    }

    @Test func aBareNumberTimeoutIsNanosecondsAndWarned() throws {
        let configuration = try load("notifications:\n  endpoints:\n    - name: a\n      url: http://x/\n      timeout: 500\n")
        #expect(configuration.notifications.endpoints[0].timeout == .nanoseconds(500))
        #expect(configuration.warnings.contains { $0.contains("notifications.endpoints[0].timeout") })
    }
}
