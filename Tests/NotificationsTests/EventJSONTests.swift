import Foundation
import Notifications
import OCI
import Testing

/// The JSON a listener receives, field by field, as Distribution writes it.
@Suite struct EventJSONTests {
    static let digest = Digest("sha256:" + String(repeating: "ab", count: 32))!
    static let source = Event.SourceRecord(addr: "edge-1:5000", instanceID: "0b8c3f9e-instance")
    static let request = Event.RequestRecord(id: "req-1", addr: "10.0.0.7", host: "registry.example:5000", method: "PUT",
                                             useragent: "containers/5.23")
    // 2026-11-22T03:40:51.250Z
    static let when = Date(timeIntervalSince1970: 1_795_318_851.25)

    func json(_ event: Event) throws -> (object: [String: Any], text: String) {
        let bytes = try Envelope(events: [event]).encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        let envelope = try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(Array(envelope.keys) == ["events"])
        let events = try #require(envelope["events"] as? [[String: Any]])
        #expect(events.count == 1)
        return (events[0], text)
    }

    @Test func manifestPushCarriesDistributionsFields() throws {
        let target = Event.Target(mediaType: "application/vnd.oci.image.manifest.v1+json", size: 527, digest: Self.digest,
                                  repository: "team/app", url: "http://registry.example:5000/v2/team/app/manifests/\(Self.digest)", tag: "v1")
        let event = Event(id: "evt-1", timestamp: Self.when, action: .push, target: target, request: Self.request, source: Self.source)
        let (object, text) = try json(event)

        #expect(Set(object.keys) == ["id", "timestamp", "action", "target", "request", "actor", "source"])
        #expect(object["id"] as? String == "evt-1")
        #expect(object["timestamp"] as? String == "2026-11-22T03:40:51.250Z")
        #expect(object["action"] as? String == "push")

        let json = try #require(object["target"] as? [String: Any])
        #expect(Set(json.keys) == ["mediaType", "size", "digest", "length", "repository", "url", "tag"])
        #expect(json["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        #expect(json["size"] as? Int == 527)
        #expect(json["length"] as? Int == 527)
        #expect(json["digest"] as? String == Self.digest.description)
        #expect(json["repository"] as? String == "team/app")
        #expect(json["tag"] as? String == "v1")
        #expect(json["url"] as? String == "http://registry.example:5000/v2/team/app/manifests/\(Self.digest)")

        let request = try #require(object["request"] as? [String: Any])
        #expect(request as NSDictionary == ["id": "req-1", "addr": "10.0.0.7", "host": "registry.example:5000", "method": "PUT",
                                            "useragent": "containers/5.23"] as NSDictionary)
        #expect((object["actor"] as? [String: Any])?.isEmpty == true)
        #expect(object["source"] as? NSDictionary == ["addr": "edge-1:5000", "instanceID": "0b8c3f9e-instance"] as NSDictionary)
        // Media types and URLs are written plainly, as Go writes them.
        #expect(!text.contains("\\/"))
    }

    @Test func deleteLeavesOutWhatItDoesNotKnow() throws {
        let event = Event(action: .delete, target: Event.Target(digest: Self.digest, repository: "team/app"),
                          request: Event.RequestRecord(id: "r", addr: nil, host: nil, method: "DELETE", useragent: ""),
                          actor: Event.ActorRecord(name: "alice"), source: Self.source)
        let (object, _) = try json(event)
        let target = try #require(object["target"] as? [String: Any])
        #expect(Set(target.keys) == ["digest", "repository"])
        // Distribution always writes the request's id, method and user agent, even when empty.
        let request = try #require(object["request"] as? [String: Any])
        #expect(Set(request.keys) == ["id", "method", "useragent"])
        #expect(object["actor"] as? NSDictionary == ["name": "alice"] as NSDictionary)
        #expect((object["id"] as? String)?.isEmpty == false)
    }

    @Test func mountNamesTheRepositoryItCameFrom() throws {
        let target = Event.Target(mediaType: "application/octet-stream", size: 10, digest: Self.digest, repository: "b", fromRepository: "a")
        let (object, _) = try json(Event(action: .mount, target: target, request: Self.request, source: Self.source))
        #expect(object["action"] as? String == "mount")
        let json = try #require(object["target"] as? [String: Any])
        #expect(json["fromRepository"] as? String == "a")
        #expect(json["length"] as? Int == 10)
    }

    @Test func referencesAreDescriptors() throws {
        let layer = Descriptor(mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: Self.digest.description, size: 99)
        let target = Event.Target(mediaType: "application/vnd.oci.image.manifest.v1+json", size: 5, digest: Self.digest,
                                  repository: "r", references: [layer])
        let (object, _) = try json(Event(action: .pull, target: target, request: Self.request, source: Self.source))
        let references = try #require((object["target"] as? [String: Any])?["references"] as? [[String: Any]])
        #expect(references.count == 1)
        #expect(references[0] as NSDictionary == ["mediaType": layer.mediaType, "digest": layer.digest, "size": 99] as NSDictionary)
    }

    @Test func endpointsIgnoreMediaTypesAndActions() {
        var endpoint = EndpointConfiguration(name: "e", url: "http://127.0.0.1:1/")
        endpoint.ignoredMediaTypes = ["application/octet-stream"]
        endpoint.ignoredActions = [.pull]
        let blobPush = Event(action: .push, target: Event.Target(mediaType: "application/octet-stream", repository: "r"),
                             request: Self.request, source: Self.source)
        let manifestPull = Event(action: .pull, target: Event.Target(mediaType: "application/vnd.oci.image.manifest.v1+json", repository: "r"),
                                 request: Self.request, source: Self.source)
        let manifestPush = Event(action: .push, target: Event.Target(mediaType: "application/vnd.oci.image.manifest.v1+json", repository: "r"),
                                 request: Self.request, source: Self.source)
        let delete = Event(action: .delete, target: Event.Target(digest: Self.digest, repository: "r"), request: Self.request, source: Self.source)
        #expect(!endpoint.accepts(blobPush))
        #expect(!endpoint.accepts(manifestPull))
        #expect(endpoint.accepts(manifestPush))
        #expect(endpoint.accepts(delete))
    }
}
