import ImageStreams
import Mirror
import OCI

extension RegistryHandler {
    /// A blob of a repository that has an ImageStream: only a digest of the stream's images is
    /// served, from the store when linked, else from the first candidate that holds it.
    func getImageStreamBlob(_ name: RepositoryName, digest: Digest, stream: ImageStream, mirror: PullThrough,
                            request: HTTPRequest) async throws -> HTTPResponse {
        let linked = try await store.isLinked(digest, in: name)
        guard let route = try await mirror.imageStreamBlobRoute(digest, stream: stream, repository: name, linked: linked) else {
            guard let size = try await store.blobSize(digest) else { throw blobUnknown(digest, name) }
            return try await serveStoredBlob(digest, size: size, request: request)
        }
        return try await getMirroredBlob(digest, route: route, request: request)
    }
}
