import Foundation
import Logging
import Notifications
import OCI
import Synchronization
import Testing

/// A transport that records what it was given, fails the first `failures` attempts per
/// endpoint, and never answers for endpoints named `hang`.
final class FakeTransport: EventTransport {
    struct Attempt: Sendable {
        var endpoint: String
        var body: [UInt8]
        var at: ContinuousClock.Instant
    }

    private let attempts = Mutex<[Attempt]>([])
    private let failures: Int

    init(failures: Int = 0) { self.failures = failures }

    func send(_ body: [UInt8], to endpoint: EndpointConfiguration) async throws {
        let count = attempts.withLock { attempts in
            attempts.append(Attempt(endpoint: endpoint.name, body: body, at: .now))
            return attempts.filter { $0.endpoint == endpoint.name }.count
        }
        if endpoint.name == "hang" {
            try await Task.sleep(for: .seconds(3600))
        }
        if count <= failures { throw DeliveryError("failure \(count)") }
    }

    func recorded(_ endpoint: String) -> [Attempt] { attempts.withLock { $0.filter { $0.endpoint == endpoint } } }

    /// Waits until `endpoint` has seen `count` attempts (or 30 s: the test pool may be busy).
    func waitFor(_ count: Int, at endpoint: String) async -> [Attempt] {
        let deadline = ContinuousClock.now + .seconds(30)
        while recorded(endpoint).count < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return recorded(endpoint)
    }
}

@Suite(.timeLimit(.minutes(1))) struct NotifierTests {
    static let source = Event.SourceRecord(addr: "test:5000", instanceID: "i")

    func event(_ action: Event.Action, _ mediaType: String = "application/vnd.oci.image.manifest.v1+json", repository: String = "r") -> Event {
        Event(action: action, target: Event.Target(mediaType: mediaType, size: 1, repository: repository),
              request: Event.RequestRecord(id: "q", addr: nil, host: nil, method: "PUT", useragent: "t"), source: Self.source)
    }

    func endpoint(_ name: String, threshold: Int = 10, backoff: Duration = .seconds(1)) -> EndpointConfiguration {
        var endpoint = EndpointConfiguration(name: name, url: "http://127.0.0.1:9/\(name)")
        endpoint.threshold = threshold
        endpoint.backoff = backoff
        return endpoint
    }

    func repositories(in attempts: [FakeTransport.Attempt]) throws -> [String] {
        try attempts.map { attempt in
            let envelope = try #require(JSONSerialization.jsonObject(with: Data(attempt.body)) as? [String: Any])
            let events = try #require(envelope["events"] as? [[String: Any]])
            return try #require((events.first?["target"] as? [String: Any])?["repository"] as? String)
        }
    }

    @Test func eachEndpointGetsWhatItDoesNotIgnoreInOrder() async throws {
        var quiet = endpoint("quiet")
        quiet.ignoredActions = [.pull]
        quiet.ignoredMediaTypes = ["application/octet-stream"]
        var configuration = NotificationsConfiguration()
        configuration.endpoints = [endpoint("all"), quiet]
        let transport = FakeTransport()
        let notifier = Notifier(configuration: configuration, source: Self.source, transport: transport, logger: Logger(label: "test"))
        notifier.publish(event(.push, repository: "one"))
        notifier.publish(event(.pull, repository: "two"))
        notifier.publish(event(.push, "application/octet-stream", repository: "three"))
        notifier.publish(event(.delete, repository: "four"))
        let running = Task { await notifier.run() }
        let all = await transport.waitFor(4, at: "all")
        try #require(all.count == 4)
        #expect(try repositories(in: all) == ["one", "two", "three", "four"])
        #expect(await notifier.flush(within: .seconds(5)) == 0)
        #expect(try repositories(in: transport.recorded("quiet")) == ["one", "four"])
        running.cancel()
        await running.value
    }

    @Test func failuresAreRetriedWithBackoffAfterTheThreshold() async throws {
        var configuration = NotificationsConfiguration()
        configuration.endpoints = [endpoint("flaky", threshold: 2, backoff: .seconds(1))]
        let transport = FakeTransport(failures: 3)
        let notifier = Notifier(configuration: configuration, source: Self.source, transport: transport, logger: Logger(label: "test"))
        let running = Task { await notifier.run() }
        notifier.publish(event(.push, repository: "one"))
        notifier.publish(event(.push, repository: "two"))
        let attempts = await transport.waitFor(5, at: "flaky")
        try #require(attempts.count == 5)
        // one fails three times, then succeeds; two follows at once.
        #expect(try repositories(in: attempts) == ["one", "one", "one", "one", "two"])
        // Below the threshold the retry is immediate; from the second failure on it waits the backoff.
        #expect(attempts[1].at - attempts[0].at < .milliseconds(800))
        #expect(attempts[2].at - attempts[1].at >= .seconds(1))
        #expect(attempts[3].at - attempts[2].at >= .seconds(1))
        #expect(attempts[4].at - attempts[3].at < .milliseconds(800))
        running.cancel()
        await running.value
    }

    @Test func aHangingEndpointNeitherBlocksPublishNorOtherEndpoints() async throws {
        var hang = endpoint("hang")
        hang.queueCapacity = 2
        var configuration = NotificationsConfiguration()
        configuration.endpoints = [hang, endpoint("live")]
        let transport = FakeTransport()
        let notifier = Notifier(configuration: configuration, source: Self.source, transport: transport, logger: Logger(label: "test"))
        let running = Task { await notifier.run() }
        notifier.publish(event(.push, repository: "r0"))
        try #require(await transport.waitFor(1, at: "hang").count == 1)
        let started = ContinuousClock.now
        for index in 1..<50 { notifier.publish(event(.push, repository: "r\(index)")) }
        #expect(ContinuousClock.now - started < .seconds(1))
        let live = await transport.waitFor(50, at: "live")
        try #require(live.count == 50)
        // The hanging endpoint holds one event in flight and two waiting; the rest were dropped.
        #expect(transport.recorded("hang").count == 1)
        #expect(notifier.dropped == 47)
        #expect(await notifier.flush(within: .milliseconds(200)) == 3)
        running.cancel()
        await running.value
    }
}
