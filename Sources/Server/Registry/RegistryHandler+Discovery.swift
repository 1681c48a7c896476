import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Storage

extension RegistryHandler {
    func listTags(_ name: RepositoryName, request: HTTPRequest) async throws -> HTTPResponse {
        // A repository mirrored from a registry the policy refuses lists nothing either.
        let route = try mirrorRoute(name, request)
        // A repository with an ImageStream has the stream's tags (those with an image).
        let streamTags = mirror?.imageStream(for: name).map { stream in
            (stream.status?.tags ?? []).filter { !($0.items ?? []).isEmpty }.compactMap { Tag($0.tag) }.map(\.value)
        }
        let tags: [String]
        if let streamTags {
            tags = streamTags
        } else if let mirror, let route {
            // A mirrored repository lists what its upstream has, as Distribution's proxy does.
            tags = try await mirror.tags(route: route)
        } else if let stored = try await store.tags(in: name) {
            tags = stored.map(\.value)
        } else {
            throw RegistryError(.nameUnknown, "repository \(name) is not known", detailJSON: #"{"name":"\#(name)"}"#)
        }
        // An upstream's pages may overlap; a client must see each tag once, in order.
        let (page, next) = try paginate(Array(Set(tags)).sorted(), request: request, defaultLimit: nil, maximum: nil)
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        if let next {
            headers.add(name: "Link", value: "</v2/\(name)/tags/list?last=\(QueryString.percentEncode(next.last))&n=\(next.limit)>; rel=\"next\"")
        }
        let json = #"{"name":\#(JSONText.string(name.value)),"tags":[\#(page.map(JSONText.string).joined(separator: ","))]}"#
        return HTTPResponse(status: .ok, headers: headers, body: .buffer(ByteBuffer(string: json)))
    }

    /// - Parameter visible: which repositories this client may see (with `auth:`); nil for all.
    func catalog(_ request: HTTPRequest, visible: (@Sendable (RepositoryName) -> Bool)? = nil) async throws -> HTTPResponse {
        let names = try await store.repositories().filter { visible?($0) ?? true }.map(\.value)
        let (page, next) = try paginate(names, request: request, defaultLimit: 100, maximum: settings.catalogMaxEntries)
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        if let next {
            headers.add(name: "Link", value: "</v2/_catalog?last=\(QueryString.percentEncode(next.last))&n=\(next.limit)>; rel=\"next\"")
        }
        let json = #"{"repositories":[\#(page.map(JSONText.string).joined(separator: ","))]}"#
        return HTTPResponse(status: .ok, headers: headers, body: .buffer(ByteBuffer(string: json)))
    }

    /// Applies `n` and `last` to a sorted list.
    /// - Returns: the page, and what the `Link` to the next page needs when more remain.
    private func paginate(_ all: [String], request: HTTPRequest, defaultLimit: Int?, maximum: Int?) throws
        -> ([String], (last: String, limit: Int)?) {
        var limit = defaultLimit
        if let text = request.queryValue("n") {
            guard let n = Int(text), n >= 0 else {
                throw RegistryError(.paginationNumberInvalid, "n=\(text) is not a non-negative whole number")
            }
            if let maximum, n > maximum {
                throw RegistryError(.paginationNumberInvalid, "n=\(n) is more than the \(maximum) entries a page may hold")
            }
            limit = n
        }
        var rest = all[...]
        if let last = request.queryValue("last") {
            rest = rest.drop { $0 <= last }
        }
        guard let limit else { return (Array(rest), nil) }
        let page = Array(rest.prefix(limit))
        if limit > 0, rest.count > limit, let last = page.last {
            return (page, (last, limit))
        }
        return (page, nil)
    }

    func referrers(_ name: RepositoryName, digest: Digest, request: HTTPRequest) async throws -> HTTPResponse {
        let artifactType = request.queryValue("artifactType")
        let descriptors = try await store.referrers(to: digest, in: name, artifactType: artifactType)
        struct Index: Encodable {
            var schemaVersion = 2
            var mediaType = MediaType.ociIndex
            var manifests: [Descriptor]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(Index(manifests: descriptors))
        var headers: HTTPHeaders = ["Content-Type": MediaType.ociIndex]
        if artifactType != nil { headers.add(name: "OCI-Filters-Applied", value: "artifactType") }
        return HTTPResponse(status: .ok, headers: headers, body: .buffer(ByteBuffer(bytes: json)))
    }
}
