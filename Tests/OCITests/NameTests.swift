import OCI
import Testing

@Suite struct NameTests {
    @Test(arguments: ["a", "library/alpine", "a/b/c/d", "a.b_c__d-e---f/g0", "blobs/manifests", "0", String(repeating: "a", count: 255)])
    func acceptsRepositoryNames(_ text: String) {
        #expect(RepositoryName(text)?.value == text)
    }

    @Test(arguments: ["", "A", "a//b", "/a", "a/", "a/../b", "..", ".", "a..b", "a___b", "-a", "a-", "a_", "a b", "a:b",
                      "a/.hidden", String(repeating: "a", count: 256), "ü"])
    func refusesRepositoryNames(_ text: String) {
        #expect(RepositoryName(text) == nil)
    }

    @Test(arguments: ["latest", "v1.0", "_x", "A-b.c_d", String(repeating: "t", count: 128)])
    func acceptsTags(_ text: String) {
        #expect(Tag(text)?.value == text)
    }

    @Test(arguments: ["", "-bad", ".bad", "a/b", "a:b", String(repeating: "t", count: 129), "é"])
    func refusesTags(_ text: String) {
        #expect(Tag(text) == nil)
    }

    @Test func referenceIsADigestWhenItHasAColon() {
        #expect(ManifestReference("latest") == .tag(Tag("latest")!))
        #expect(ManifestReference("sha256:" + String(repeating: "b", count: 64)) != nil)
        #expect(ManifestReference("sha256:nope") == nil)
    }
}
