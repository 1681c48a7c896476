import ImageStreams
import Mirror
import OCI

extension RegistryHandler {
    /// A blob of a repository that has an ImageStream: only a digest of the stream's images is
    /// served, from the store when linked, else from the first candidate that holds it.
    func getImageStreamBlob(_ name: RepositoryName, digest: Digest, stream: ImageStream, mirror: PullThrough,
                            request: HTTPRequest) async throws -> HTTPResponse {
        try await retryingVanishedBlob {
            // Linked but not stored (removed by a retention sweep): fetched again like a new one.
            let size = try await store.isLinked(digest, in: name) ? try await store.blobSize(digest) : nil
            guard let route = try await mirror.imageStreamBlobRoute(digest, stream: stream, repository: name, linked: size != nil) else {
                guard let size else { throw blobUnknown(digest, name) }
                return try await serveStoredBlob(digest, size: size, request: request)
            }
            return try await getMirroredBlob(digest, route: route, request: request)
        }
    }
}

extension RegistryHandler {
    /// `acceptschema2: false`: a Docker schema 2 manifest or manifest list pushed into a
    /// repository that has an ImageStream is refused, as OpenShift's registry refuses it.
    func refuseSchema2IntoImageStream(_ name: RepositoryName, bytes: [UInt8], contentType: String?) throws {
        guard !settings.acceptSchema2, mirror?.imageStream(for: name) != nil else { return }
        let mediaType = (try? Manifest(bytes: bytes, declaredType: contentType))?.mediaType ?? contentType.map(Manifest.stripParameters)
        guard mediaType == MediaType.dockerManifest || mediaType == MediaType.dockerManifestList else { return }
        throw RegistryError(.manifestInvalid, "\(name) has an ImageStream, and this registry does not accept \(mediaType ?? "schema 2") manifests in it (acceptschema2: false)")
    }
}
