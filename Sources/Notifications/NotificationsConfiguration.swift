/// Distribution's `notifications` section: where events go, and which ones.
public struct NotificationsConfiguration: Sendable {
    /// Endpoints that receive events (disabled ones are left out when the file is read).
    public var endpoints: [EndpointConfiguration] = []
    /// `events.includereferences`: manifest events list the descriptors the manifest references.
    public var includeReferences = false

    public init() {}
}

/// One listener (`notifications.endpoints[]`), with Distribution's defaults.
public struct EndpointConfiguration: Sendable, Equatable {
    /// For logs.
    public var name: String
    /// An `http://` or `https://` URL that events are POSTed to.
    public var url: String
    /// Extra request headers (e.g. `Authorization`), in order; a name may repeat.
    public var headers: [HeaderField] = []
    /// One delivery attempt's limit. Default: 1 s.
    public var timeout: Duration = .seconds(1)
    /// Consecutive failures after which every retry waits `backoff`. Default: 10.
    public var threshold = 10
    /// The wait between retries once `threshold` failures in a row were reached. Default: 1 s.
    public var backoff: Duration = .seconds(1)
    /// Events whose target has one of these media types are not sent here
    /// (`ignoredmediatypes` and `ignore.mediatypes`).
    public var ignoredMediaTypes: Set<String> = []
    /// Events with these actions are not sent here (`ignore.actions`).
    public var ignoredActions: Set<Event.Action> = []
    /// Events waiting for this endpoint at most; when full, the oldest is dropped.
    public var queueCapacity = 1000

    public struct HeaderField: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// True when this endpoint wants `event`.
    public func accepts(_ event: Event) -> Bool {
        if ignoredActions.contains(event.action) { return false }
        if let mediaType = event.target.mediaType, ignoredMediaTypes.contains(mediaType) { return false }
        return true
    }
}
