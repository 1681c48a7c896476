import Foundation
import ImageStreams
import Mirror
import NIOCore
import NIOHTTP1
import OCI
import Yams

/// The ImageStream admin API, on OpenShift's paths, behind `openshift.imagestreams.admintoken`
/// (`Authorization: Bearer <token>`):
///
/// - `GET    /apis/image.openshift.io/v1/namespaces/<ns>/imagestreams`          the namespace's streams (a List)
/// - `GET|PUT|DELETE …/namespaces/<ns>/imagestreams/<name>`                    one stream (PUT takes JSON or YAML)
/// - `POST   …/namespaces/<ns>/imagestreamimports`                             an ImageStreamImport (`spec.images`):
///   each `DockerImage` is resolved upstream (a HEAD, policy and pull secret applied) and recorded
///   as the newest item of its tag, like `oc import-image`.
///
/// Streams written here go to `<directory>/<ns>/<name>.json`; errors are Kubernetes `Status` objects.
extension RegistryHandler {
    static let imageStreamAPIPrefix = "/apis/image.openshift.io/v1/namespaces/"

    func imageStreamAPI(_ request: HTTPRequest, body: RequestBody) async throws -> HTTPResponse {
        guard let mirror, let catalog = mirror.imageStreams, let token = settings.imageStreamAdminToken else {
            return apiStatus(.notFound, "NotFound", "the ImageStream API is off (it needs openshift.imagestreams.directory and .admintoken)")
        }
        guard Self.sameBytes(request.headers.first(name: "authorization") ?? "", "Bearer " + token) else {
            var response = apiStatus(.unauthorized, "Unauthorized", "the ImageStream API needs the admin token (Authorization: Bearer <token>)")
            response.headers.add(name: "WWW-Authenticate", value: #"Bearer realm="wharf-imagestreams""#)
            return response
        }
        let parts = request.path.dropFirst(Self.imageStreamAPIPrefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // Names are checked as the repository `<ns>/<name>` they serve, before any file is touched.
        guard (2...3).contains(parts.count), RepositoryName(parts[0]) != nil,
              parts.count == 2 || RepositoryName("\(parts[0])/\(parts[2])") != nil else {
            return apiStatus(.notFound, "NotFound", "no such ImageStream API path: \(request.path)")
        }
        let namespace = parts[0]
        switch (parts[1], parts.count, request.method) {
        case ("imagestreams", 2, .GET):
            let items = try catalog.streams(namespace: namespace).map { try Self.document(of: $0, namespace: namespace, catalog: catalog) }
            return try apiObject(.ok, StreamList(items: items))
        case ("imagestreams", 3, .GET):
            guard let stream = catalog.stream(namespace: namespace, name: parts[2]) else {
                return apiStatus(.notFound, "NotFound", "imagestreams \"\(parts[2])\" not found in namespace \(namespace)")
            }
            return try apiObject(.ok, Self.document(of: stream, namespace: namespace, catalog: catalog))
        case ("imagestreams", 3, .PUT):
            return try await putImageStream(namespace: namespace, name: parts[2], catalog: catalog, body: body)
        case ("imagestreams", 3, .DELETE):
            do {
                guard try catalog.delete(namespace: namespace, name: parts[2]) else {
                    return apiStatus(.notFound, "NotFound", "imagestreams \"\(parts[2])\" not found in namespace \(namespace)")
                }
            } catch let error as ImageStreamError {
                return apiStatus(.conflict, "Conflict", error.message)
            }
            return apiStatus(.ok, nil, "imagestreams \"\(parts[2])\" deleted", success: true)
        case ("imagestreamimports", 2, .POST):
            return try await importImages(namespace: namespace, catalog: catalog, mirror: mirror, body: body)
        case ("imagestreams", _, _), ("imagestreamimports", _, _):
            return apiStatus(.methodNotAllowed, "MethodNotAllowed", "\(request.method) is not supported on \(request.path)")
        default:
            return apiStatus(.notFound, "NotFound", "no such ImageStream API path: \(request.path)")
        }
    }

    private func putImageStream(namespace: String, name: String, catalog: ImageStreamCatalog, body: RequestBody) async throws -> HTTPResponse {
        let data = try await Self.collect(body)
        let streams: [ImageStream]
        do {
            streams = try ImageStreamCatalog.decode(data, json: Self.looksLikeJSON(data))
        } catch {
            return apiStatus(.badRequest, "BadRequest", "the body is not an ImageStream: \(error)")
        }
        guard streams.count == 1, let stream = streams.first, stream.metadata.name == name,
              stream.metadata.namespace == nil || stream.metadata.namespace == namespace else {
            return apiStatus(.badRequest, "BadRequest", "the body must be one ImageStream named \(name) in namespace \(namespace)")
        }
        let existed = catalog.stream(namespace: namespace, name: name) != nil
        do {
            // The body as sent, so what Wharf does not model is stored too.
            let original = try? ImageStreamCatalog.decodeDocument(data, json: Self.looksLikeJSON(data))
            try catalog.write(stream, namespace: namespace, original: original)
        } catch let error as ImageStreamError {
            return apiStatus(.conflict, "Conflict", error.message)
        }
        let written = catalog.stream(namespace: namespace, name: name) ?? stream
        return try apiObject(existed ? .ok : .created, Self.document(of: written, namespace: namespace, catalog: catalog))
    }

    private func importImages(namespace: String, catalog: ImageStreamCatalog, mirror: PullThrough, body: RequestBody) async throws -> HTTPResponse {
        let data = try await Self.collect(body)
        var request: ImageStreamImport
        do {
            request = Self.looksLikeJSON(data) ? try JSONDecoder().decode(ImageStreamImport.self, from: data)
                : try YAMLDecoder().decode(ImageStreamImport.self, from: data)
        } catch {
            return apiStatus(.badRequest, "BadRequest", "the body is not an ImageStreamImport: \(error)")
        }
        let name = request.metadata.name
        guard RepositoryName("\(namespace)/\(name)") != nil, !name.contains("/") else {
            return apiStatus(.badRequest, "BadRequest", "\(namespace)/\(name) is not a valid repository name")
        }
        var stream = catalog.stream(namespace: namespace, name: name) ?? ImageStream(namespace: namespace, name: name)
        let created = ISO8601DateFormatter().string(from: Date())
        var results: [ImageStreamImport.ImageImportStatus] = []
        for spec in request.spec.images ?? [] {
            guard spec.from.kind == "DockerImage", let reference = DockerImageReference(spec.from.name) else {
                results.append(.init(status: .init(status: "Failure", message: "from must be a DockerImage pull spec, not \(spec.from.kind) \(spec.from.name)",
                                                   reason: "Invalid", code: 422), tag: spec.to?.name, image: nil))
                continue
            }
            let tag = spec.to?.name ?? reference.tag ?? "latest"
            guard Tag(tag) != nil else {
                results.append(.init(status: .init(status: "Failure", message: "\"\(tag)\" is not a valid tag", reason: "Invalid", code: 422), tag: tag, image: nil))
                continue
            }
            do {
                let digest = try await mirror.resolveForImport(reference, namespace: namespace, insecure: spec.importPolicy?.insecure ?? false)
                stream.record(tag: tag, from: reference, digest: digest, created: created, importPolicy: spec.importPolicy,
                              referencePolicy: spec.referencePolicy)
                results.append(.init(status: .init(status: "Success"), tag: tag, image: .init(digest: digest, reference: reference.description)))
            } catch {
                results.append(.init(status: .init(status: "Failure", message: error.message, reason: error.code.name, code: error.status),
                                     tag: tag, image: nil))
            }
        }
        if request.spec.import != false, results.contains(where: { $0.status.status == "Success" }) {
            do {
                try catalog.write(stream, namespace: namespace)
            } catch let error as ImageStreamError {
                return apiStatus(.conflict, "Conflict", error.message)
            }
        }
        request.status = ImageStreamImport.Status(import: stream, images: results)
        return try apiObject(.created, request)
    }

    // MARK: Helpers

    /// A stream as the API shows it: its file's whole document when it has a file of its own
    /// (fields Wharf does not model included), else what Wharf read of it.
    static func document(of stream: ImageStream, namespace: String, catalog: ImageStreamCatalog) throws -> JSONValue {
        if let document = catalog.document(namespace: namespace, name: stream.metadata.name) { return document }
        return try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(stream))
    }

    private struct StreamList: Encodable {
        var kind = "ImageStreamList"
        var apiVersion = "image.openshift.io/v1"
        var items: [JSONValue]
    }

    private static func collect(_ body: RequestBody) async throws -> Data {
        let buffer = try await body.collect(upTo: 4 << 20)
        return Data(buffer.readableBytesView)
    }

    private static func looksLikeJSON(_ data: Data) -> Bool {
        data.first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) } == UInt8(ascii: "{")
    }

    /// Compares without stopping at the first difference, so the time taken says nothing of the token.
    private static func sameBytes(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        var difference = a.count ^ b.count
        for index in 0..<min(a.count, b.count) { difference |= Int(a[index] ^ b[index]) }
        return difference == 0
    }

    private func apiObject(_ status: HTTPResponseStatus, _ value: some Encodable) throws -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .buffer(ByteBuffer(bytes: try encoder.encode(value))))
    }

    private func apiStatus(_ status: HTTPResponseStatus, _ reason: String?, _ message: String, success: Bool = false) -> HTTPResponse {
        let object = ImageStreamImport.APIStatus(status: success ? "Success" : "Failure", message: message, reason: reason, code: Int(status.code))
        return (try? apiObject(status, object)) ?? HTTPResponse(status: status)
    }
}
