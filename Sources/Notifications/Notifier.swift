import HTTPClient
import Logging

/// Registry events to webhook endpoints, as Distribution sends them: each endpoint has its own
/// bounded in-memory queue and retries on its own; `publish` only queues, so a request never
/// waits for an endpoint, however slow or dead.
public final class Notifier: Sendable {
    public let configuration: NotificationsConfiguration
    /// This instance, as every event names it.
    public let source: Event.SourceRecord
    private let senders: [EndpointSender]
    private let transport: any EventTransport
    /// The client behind the default transport, shut down with the notifier.
    private let client: HTTPClient?
    private let logger: Logger

    /// A notifier with its own transport (tests use a fake one).
    public init(configuration: NotificationsConfiguration, source: Event.SourceRecord, transport: any EventTransport, logger: Logger) {
        self.configuration = configuration
        self.source = source
        self.senders = configuration.endpoints.map(EndpointSender.init)
        self.transport = transport
        self.client = nil
        self.logger = logger
    }

    /// A notifier that POSTs with a libcurl client of its own.
    public init(configuration: NotificationsConfiguration, source: Event.SourceRecord, logger: Logger) throws {
        let client = try HTTPClient(configuration: .init(userAgent: "wharf-notifications/0.1"))
        self.configuration = configuration
        self.source = source
        self.senders = configuration.endpoints.map(EndpointSender.init)
        self.transport = HTTPEventTransport(client: client)
        self.client = client
        self.logger = logger
    }

    /// Queues `event` for every endpoint that does not ignore it. Never waits.
    public func publish(_ event: Event) {
        for sender in senders where sender.configuration.accepts(event) {
            sender.enqueue(event, logger: logger)
        }
    }

    /// Delivers queued events until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for sender in senders {
                group.addTask { [transport, logger] in await sender.run(transport: transport, logger: logger) }
            }
        }
    }

    /// Events queued or being sent, over all endpoints.
    public var pending: Int { senders.reduce(0) { $0 + $1.pending } }

    /// Events dropped because a queue was full, over all endpoints.
    public var dropped: Int { senders.reduce(0) { $0 + $1.dropped } }

    /// Waits (while `run` delivers) until every queue is empty or `timeout` has passed.
    /// - Returns: how many events were still undelivered.
    @discardableResult
    public func flush(within timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while pending > 0, ContinuousClock.now < deadline {
            guard (try? await Task.sleep(for: .milliseconds(20))) != nil else { break }
        }
        let left = pending
        if left > 0 {
            logger.warning("notification events left undelivered at shutdown", metadata: ["events": "\(left)"])
        }
        return left
    }

    /// Stops the HTTP client; call after `run` has ended.
    public func shutdown() { client?.shutdown() }
}
