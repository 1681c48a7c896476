import Foundation
@testable import ImageStreams
import OCI
import Testing

@Suite struct ImageStreamTests {
    static let a = "sha256:" + String(repeating: "a", count: 64)
    static let b = "sha256:" + String(repeating: "b", count: 64)
    static let c = "sha256:" + String(repeating: "c", count: 64)

    static let yaml = """
        apiVersion: image.openshift.io/v1
        kind: ImageStream
        metadata:
          name: ruby
          namespace: myproj
        spec:
          tags:
          - name: "3.3"
            from: {kind: DockerImage, name: "quay.io/org/ruby:3.3"}
            importPolicy: {insecure: false}
            referencePolicy: {type: Local}
          - name: lab
            from: {kind: DockerImage, name: "lab.example:5000/ruby:lab"}
            importPolicy: {insecure: true}
        status:
          dockerImageRepository: wharf.example/myproj/ruby
          tags:
          - tag: "3.3"
            items:
            - created: "2024-02-01T00:00:00Z"
              dockerImageReference: quay.io/org/ruby@\(a)
              image: \(a)
              generation: 2
            - created: "2024-01-01T00:00:00Z"
              dockerImageReference: ghcr.io/org/ruby@\(b)
              image: \(b)
              generation: 1
          - tag: lab
            items:
            - dockerImageReference: lab.example:5000/ruby@\(c)
              image: \(c)
          - tag: self
            items:
            - dockerImageReference: wharf.example/myproj/ruby@\(c)
              image: \(c)
        """

    static func stream() throws -> ImageStream {
        try #require(try ImageStreamCatalog.decode(Data(yaml.utf8), json: false).first)
    }

    @Test func decodesOpenShiftsShape() throws {
        let stream = try Self.stream()
        #expect(stream.metadata.name == "ruby")
        #expect(stream.metadata.namespace == "myproj")
        #expect(stream.spec?.tags?.first?.from == ImageStream.ObjectReference(kind: "DockerImage", name: "quay.io/org/ruby:3.3"))
        #expect(stream.spec?.tags?.first?.referencePolicy?.type == "Local")
        #expect(stream.newestItem(of: "3.3")?.image == Self.a)
        #expect(stream.newestItem(of: "missing") == nil)
        #expect(stream.images == Set([Self.a, Self.b, Self.c].compactMap(Digest.init)))
    }

    @Test func candidatesFollowOpenShiftsOrder() throws {
        let names = try Self.stream().candidates().map { "\($0)\($0.insecure ? " (insecure)" : "")" }
        // primary (newest items): secure first, then insecure; then older items; own registry skipped
        #expect(names == ["quay.io/org/ruby", "lab.example:5000/ruby (insecure)", "ghcr.io/org/ruby"])
    }

    @Test func cachedRepositoriesComeFirstAndDuplicatesAreDropped() throws {
        let names = try Self.stream().candidates(cached: ["ghcr.io/org/ruby", "ghcr.io/org/ruby", "elsewhere.example/x"]).map(\.description)
        #expect(names == ["ghcr.io/org/ruby", "quay.io/org/ruby", "lab.example:5000/ruby"])
    }

    @Test func theInsecureAnnotationMakesEveryRegistryInsecure() throws {
        var stream = try Self.stream()
        stream.metadata.annotations = [ImageStream.insecureAnnotation: "true"]
        #expect(stream.candidates().allSatisfy { $0.insecure })
    }

    @Test func aRepositoryOnTwoTagsIsOneCandidate() throws {
        var stream = ImageStream(namespace: "p", name: "s")
        stream.status = ImageStream.Status(tags: [
            .init(tag: "a", items: [.init(dockerImageReference: "quay.io/org/app@\(Self.a)", image: Self.a)]),
            .init(tag: "b", items: [.init(dockerImageReference: "quay.io/org/app:b", image: Self.b),
                                   .init(dockerImageReference: "quay.io/org/app@\(Self.c)", image: Self.c)]),
        ])
        #expect(stream.candidates().map(\.description) == ["quay.io/org/app"])
    }

    @Test(arguments: [
        ("quay.io/org/app@sha256:" + String(repeating: "a", count: 64), "quay.io", "org/app"),
        ("alpine", "docker.io", "library/alpine"),
        ("docker.io/alpine:3", "docker.io", "library/alpine"),
        ("index.docker.io/team/app", "docker.io", "team/app"),
        ("team/app:1", "docker.io", "team/app"),
        ("localhost/app", "localhost", "app"),
        ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app"),
    ])
    func referencesGetDockersDefaults(text: String, registry: String, repository: String) throws {
        let reference = try #require(DockerImageReference(text))
        #expect(reference.registry == registry)
        #expect(reference.repository.value == repository)
    }

    @Test func aListHoldsSeveralStreams() throws {
        let json = #"{"kind":"List","apiVersion":"v1","items":[{"kind":"ImageStream","metadata":{"name":"one"}},{"metadata":{"name":"two"}}]}"#
        let streams = try ImageStreamCatalog.decode(Data(json.utf8), json: true)
        #expect(streams.map(\.metadata.name) == ["one", "two"])
        #expect(throws: (any Error).self) { try ImageStreamCatalog.decode(Data(#"{"kind":"Secret","metadata":{"name":"x"}}"#.utf8), json: true) }
    }

    @Test func theCatalogReadsNamespacesAndReloadsOnChange() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-is-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/myproj", withIntermediateDirectories: true)
        try Self.yaml.write(toFile: "\(root)/myproj/ruby.yaml", atomically: true, encoding: .utf8)
        try #"{"auths":{"quay.io":{"auth":"dTpw"}}}"#.write(toFile: "\(root)/myproj/.dockerconfigjson", atomically: true, encoding: .utf8)
        try "kind: ImageStream\nmetadata: {name: x, namespace: other}\n".write(toFile: "\(root)/myproj/wrong.yaml", atomically: true, encoding: .utf8)
        let (catalog, problems) = ImageStreamCatalog.load(directory: root)
        #expect(problems.count == 1 && problems[0].contains("wrong.yaml"))
        #expect(catalog.stream(for: RepositoryName("myproj/ruby")!)?.newestItem(of: "3.3")?.image == Self.a)
        #expect(catalog.stream(for: RepositoryName("myproj/ruby/extra")!) == nil)
        #expect(catalog.pullSecret(namespace: "myproj") != nil)
        #expect(catalog.pullSecret(namespace: "other") == nil)
        #expect(catalog.reloadIfChanged() == nil)

        try Self.yaml.replacingOccurrences(of: "- tag: lab", with: "- tag: lab2").write(toFile: "\(root)/myproj/ruby.yaml", atomically: true, encoding: .utf8)
        #expect(catalog.reloadIfChanged() != nil)
        #expect(catalog.stream(for: RepositoryName("myproj/ruby")!)?.newestItem(of: "lab2")?.image == Self.c)
        try FileManager.default.removeItem(atPath: "\(root)/myproj/ruby.yaml")
        #expect(catalog.reloadIfChanged() != nil)
        #expect(catalog.stream(for: RepositoryName("myproj/ruby")!) == nil)
    }

    @Test func maxAgeRereadsUnchangedFiles() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-is-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/p", withIntermediateDirectories: true)
        let (catalog, _) = ImageStreamCatalog.load(directory: root)
        #expect(catalog.reloadIfChanged(maxAge: .seconds(60)) == nil)
        try await Task.sleep(for: .milliseconds(30))
        #expect(catalog.reloadIfChanged(maxAge: .milliseconds(10)) == [])
    }

    @Test func theBlobRepositoryCacheForgetsAfterItsTTL() async throws {
        let cache = BlobRepositoryCache(ttl: .milliseconds(50))
        let digest = try #require(Digest(Self.a))
        cache.remember(digest, in: "quay.io/org/app")
        #expect(cache.repositories(holding: digest) == ["quay.io/org/app"])
        try await Task.sleep(for: .milliseconds(80))
        #expect(cache.repositories(holding: digest) == [])
    }
}
