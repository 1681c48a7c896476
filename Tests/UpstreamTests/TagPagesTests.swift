import Testing
@testable import Upstream

@Suite struct TagPagesTests {
    @Test func nextPageLinksKeepOnlyThePath() {
        // Docker Hub sends relative links; some registries absolute ones.
        #expect(RegistryClient.nextPagePath(#"</v2/library/alpine/tags/list?last=3.19&n=100>; rel="next""#)
            == "/v2/library/alpine/tags/list?last=3.19&n=100")
        #expect(RegistryClient.nextPagePath(#"<https://registry.example:5000/v2/a/b/tags/list?n=2&last=x>; rel="next""#)
            == "/v2/a/b/tags/list?n=2&last=x")
    }

    @Test func anythingElseEndsTheListing() {
        #expect(RegistryClient.nextPagePath(#"</v2/a/tags/list?last=x>; rel="prev""#) == nil)
        #expect(RegistryClient.nextPagePath(#"<https://elsewhere.example>; rel="next""#) == nil)
        #expect(RegistryClient.nextPagePath(#"</not/the/api>; rel="next""#) == nil)
        #expect(RegistryClient.nextPagePath("garbage") == nil)
    }
}
