import OCI
import Testing

@Suite struct ManifestTests {
    static let config = #"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(String(repeating: "c", count: 64))","size":2}"#
    static let layer = #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\#(String(repeating: "d", count: 64))","size":10}"#

    @Test func parsesAnImageManifestWithSubject() throws {
        let text = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(Self.config),"layers":[\#(Self.layer)],"subject":\#(Self.layer),"artifactType":"application/x-sbom"}"#
        let manifest = try Manifest(bytes: Array(text.utf8), declaredType: MediaType.ociManifest)
        #expect(manifest.mediaType == MediaType.ociManifest)
        #expect(manifest.referencedBlobs.count == 2)
        #expect(manifest.subject?.size == 10)
        #expect(manifest.referrerArtifactType == "application/x-sbom")
    }

    @Test func infersTheTypeOfAnOCIManifestWithoutMediaType() throws {
        let text = #"{"schemaVersion":2,"config":\#(Self.config),"layers":[]}"#
        let manifest = try Manifest(bytes: Array(text.utf8), declaredType: nil)
        #expect(manifest.mediaType == MediaType.ociManifest)
        #expect(manifest.referrerArtifactType == "application/vnd.oci.image.config.v1+json")
    }

    @Test func parsesADockerManifestList() throws {
        let text = #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:\#(String(repeating: "e", count: 64))","size":5,"platform":{"architecture":"amd64","os":"linux"}}]}"#
        let manifest = try Manifest(bytes: Array(text.utf8), declaredType: MediaType.dockerManifestList + "; charset=utf-8")
        #expect(manifest.isIndex)
        #expect(manifest.manifests.first?.platform?.architecture == "amd64")
    }

    @Test(arguments: [
        ("not json", MediaType.ociManifest),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#, MediaType.ociManifest),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#, MediaType.ociManifest),
        (#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#, MediaType.dockerSchema1),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:bad","size":1},"layers":[]}"#, MediaType.ociManifest),
    ])
    func refusesInvalidManifests(text: String, type: String) {
        #expect(throws: RegistryError.self) { try Manifest(bytes: Array(text.utf8), declaredType: type) }
        do {
            _ = try Manifest(bytes: Array(text.utf8), declaredType: type)
        } catch {
            #expect(error.code == .manifestInvalid)
        }
    }
}
