import Foundation
import Notifications
import OCI
import Storage

/// What the registry handler needs to publish events (`notifications`).
public struct RegistryEvents: Sendable {
    let notifier: Notifier
    /// `https` when Wharf serves TLS: event URLs point back at this registry.
    let scheme: String

    public init(notifier: Notifier, scheme: String) {
        self.notifier = notifier
        self.scheme = scheme
    }
}

extension RegistryHandler {
    /// Distribution's blob descriptors carry this media type in events.
    static let blobEventMediaType = "application/octet-stream"

    /// A manifest was pushed or pulled (`reference` supplies the tag, when it is one).
    func notifyManifest(_ action: Event.Action, _ manifest: StoredManifest, in name: RepositoryName, reference: ManifestReference,
                        request: HTTPRequest) {
        guard let events else { return }
        var references: [Descriptor]?
        if events.notifier.configuration.includeReferences,
           let parsed = try? Manifest(bytes: manifest.bytes, declaredType: manifest.mediaType) {
            references = (parsed.config.map { [$0] } ?? []) + parsed.layers + parsed.manifests
        }
        let tag: String? = if case .tag(let tag) = reference { tag.value } else { nil }
        let target = Event.Target(mediaType: manifest.mediaType, size: Int64(manifest.bytes.count), digest: manifest.digest,
                                  repository: name.value, url: url(events, request, "/v2/\(name)/manifests/\(manifest.digest)"),
                                  tag: tag, references: references)
        publish(events, action, target, request)
    }

    /// A blob was pushed, pulled or mounted (from `source`).
    func notifyBlob(_ action: Event.Action, _ digest: Digest, size: Int64?, in name: RepositoryName, from source: RepositoryName? = nil,
                    request: HTTPRequest) {
        guard let events else { return }
        let target = Event.Target(mediaType: Self.blobEventMediaType, size: size, digest: digest, repository: name.value,
                                  fromRepository: source?.value, url: url(events, request, "/v2/\(name)/blobs/\(digest)"))
        publish(events, action, target, request)
    }

    /// A blob download was answered: a pull event for a GET that delivers the blob (whole,
    /// a range, or a redirect to it). HEAD transfers nothing and is not a pull.
    func notifyBlobPull(_ digest: Digest, in name: RepositoryName, response: HTTPResponse, request: HTTPRequest) {
        guard events != nil, request.method == .GET, [.ok, .partialContent, .temporaryRedirect].contains(response.status) else { return }
        notifyBlob(.pull, digest, size: response.blobSize, in: name, request: request)
    }

    /// A manifest (by digest), a tag, or a blob link was deleted.
    func notifyDelete(in name: RepositoryName, digest: Digest? = nil, tag: Tag? = nil, request: HTTPRequest) {
        guard let events else { return }
        publish(events, .delete, Event.Target(digest: digest, repository: name.value, tag: tag?.value), request)
    }

    private func publish(_ events: RegistryEvents, _ action: Event.Action, _ target: Event.Target, _ request: HTTPRequest) {
        // One request makes one event here, so the request's id is made with it.
        let record = Event.RequestRecord(id: UUID().uuidString.lowercased(), addr: request.remoteAddress, host: request.headers.first(name: "host"),
                                         method: request.method.rawValue, useragent: request.headers.first(name: "user-agent") ?? "")
        events.notifier.publish(Event(action: action, target: target, request: record, actor: Event.ActorRecord(name: request.user),
                                      source: events.notifier.source))
    }

    private func url(_ events: RegistryEvents, _ request: HTTPRequest, _ path: String) -> String? {
        guard let host = request.headers.first(name: "host") else { return nil }
        return "\(events.scheme)://\(host)\(path)"
    }
}

extension HTTPResponse {
    /// The whole blob's size as a blob response states it: the total of a `Content-Range`, else the body's length.
    fileprivate var blobSize: Int64? {
        if let range = headers.first(name: "content-range"), let slash = range.lastIndex(of: "/") {
            return Int64(range[range.index(after: slash)...]).flatMap { $0 >= 0 ? $0 : nil }
        }
        return status == .ok ? bodyLength : nil
    }
}
