/// Media types of the manifests and blobs a registry handles.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// Every manifest type Wharf stores and serves, in the order an `Accept` header lists them.
    public static let manifestTypes = [ociIndex, ociManifest, dockerManifestList, dockerManifest]

    /// True for the types whose entries are other manifests.
    public static func isIndex(_ type: String) -> Bool {
        type == ociIndex || type == dockerManifestList
    }
}
