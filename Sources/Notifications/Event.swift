import Foundation
import OCI

/// One registry event in Distribution's notification format (`notifications/event.go`):
/// what happened (`action`) to which content (`target`), for which request, by whom, where.
///
/// Field names and which fields are left out when empty follow Distribution's JSON exactly, so
/// a listener written for Distribution reads Wharf's events unchanged.
public struct Event: Sendable, Equatable, Encodable {
    /// What happened to the target.
    public struct Action: RawRepresentable, Hashable, Sendable, Encodable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let push = Action(rawValue: "push")
        public static let pull = Action(rawValue: "pull")
        public static let delete = Action(rawValue: "delete")
        /// A blob linked into a repository from another one (`?mount=&from=`).
        public static let mount = Action(rawValue: "mount")
        /// Every action Distribution knows (for validating `ignore.actions`).
        public static let all: [Action] = [.push, .pull, .delete, .mount]

        public var description: String { rawValue }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    /// The content the event is about: a descriptor plus where it lives.
    public struct Target: Sendable, Equatable, Encodable {
        public var mediaType: String?
        public var size: Int64?
        public var digest: Digest?
        /// Distribution's older name for `size`, kept for listeners that read it.
        public var length: Int64?
        public var repository: String
        /// The repository a mounted blob came from.
        public var fromRepository: String?
        /// A URL the content can be fetched from.
        public var url: String?
        public var tag: String?
        /// What a manifest references (`notifications.events.includereferences`).
        public var references: [Descriptor]?

        public init(mediaType: String? = nil, size: Int64? = nil, digest: Digest? = nil, repository: String,
                    fromRepository: String? = nil, url: String? = nil, tag: String? = nil, references: [Descriptor]? = nil) {
            self.mediaType = mediaType
            self.size = size
            self.digest = digest
            self.length = size
            self.repository = repository
            self.fromRepository = fromRepository
            self.url = url
            self.tag = tag
            self.references = references
        }

        private enum CodingKeys: String, CodingKey {
            case mediaType, size, digest, length, repository, fromRepository, url, tag, references
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            // Go's `omitempty`: empty strings, zero sizes and empty lists are left out.
            try container.encodeIfPresent(mediaType.nonEmpty, forKey: .mediaType)
            try container.encodeIfPresent(size.flatMap { $0 == 0 ? nil : $0 }, forKey: .size)
            try container.encodeIfPresent(digest?.description, forKey: .digest)
            try container.encodeIfPresent(length.flatMap { $0 == 0 ? nil : $0 }, forKey: .length)
            try container.encodeIfPresent(repository.nonEmpty, forKey: .repository)
            try container.encodeIfPresent(fromRepository.nonEmpty, forKey: .fromRepository)
            try container.encodeIfPresent(url.nonEmpty, forKey: .url)
            try container.encodeIfPresent(tag.nonEmpty, forKey: .tag)
            if let references, !references.isEmpty { try container.encode(references, forKey: .references) }
        }
    }

    /// The HTTP request that caused the event.
    public struct RequestRecord: Sendable, Equatable, Encodable {
        public var id: String
        /// The client's address as the connection saw it.
        public var addr: String?
        /// The `Host` the client asked for.
        public var host: String?
        public var method: String
        public var useragent: String

        public init(id: String, addr: String?, host: String?, method: String, useragent: String) {
            self.id = id
            self.addr = addr
            self.host = host
            self.method = method
            self.useragent = useragent
        }

        private enum CodingKeys: String, CodingKey { case id, addr, host, method, useragent }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            // `id`, `method` and `useragent` are always present in Distribution's JSON.
            try container.encode(id, forKey: .id)
            try container.encodeIfPresent(addr.nonEmpty, forKey: .addr)
            try container.encodeIfPresent(host.nonEmpty, forKey: .host)
            try container.encode(method, forKey: .method)
            try container.encode(useragent, forKey: .useragent)
        }
    }

    /// Who caused the event: the authenticated user's name, when there is one.
    public struct ActorRecord: Sendable, Equatable, Encodable {
        public var name: String?
        public init(name: String? = nil) { self.name = name }

        private enum CodingKeys: String, CodingKey { case name }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(name.nonEmpty, forKey: .name)
        }
    }

    /// The registry instance that generated the event.
    public struct SourceRecord: Sendable, Equatable, Encodable {
        /// `hostname:port` of this instance.
        public var addr: String
        /// Unique per process start.
        public var instanceID: String

        public init(addr: String, instanceID: String) {
            self.addr = addr
            self.instanceID = instanceID
        }
    }

    public var id: String
    public var timestamp: Date
    public var action: Action
    public var target: Target
    public var request: RequestRecord
    public var actor: ActorRecord
    public var source: SourceRecord

    public init(id: String = UUID().uuidString.lowercased(), timestamp: Date = Date(), action: Action, target: Target,
                request: RequestRecord, actor: ActorRecord = ActorRecord(), source: SourceRecord) {
        self.id = id
        self.timestamp = timestamp
        self.action = action
        self.target = target
        self.request = request
        self.actor = actor
        self.source = source
    }

    private enum CodingKeys: String, CodingKey { case id, timestamp, action, target, request, actor, source }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        // RFC 3339 in UTC with fractional seconds, as Go writes a time.Time.
        try container.encode(timestamp.formatted(Self.timestampStyle), forKey: .timestamp)
        try container.encode(action, forKey: .action)
        try container.encode(target, forKey: .target)
        try container.encode(request, forKey: .request)
        try container.encode(actor, forKey: .actor)
        try container.encode(source, forKey: .source)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
}

/// The body of a notification request: `{"events": [...]}`.
public struct Envelope: Sendable, Encodable {
    /// The `Content-Type` of an envelope (Distribution 2.x's events media type).
    public static let mediaType = "application/vnd.docker.distribution.events.v1+json"

    public var events: [Event]

    public init(events: [Event]) { self.events = events }

    /// The JSON bytes sent to an endpoint.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        // Media types and URLs read as they are, not with `\/`.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }
}

extension Optional where Wrapped == String {
    fileprivate var nonEmpty: String? { self.flatMap { $0.isEmpty ? nil : $0 } }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
