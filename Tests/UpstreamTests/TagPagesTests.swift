import Testing
@testable import Upstream

@Suite struct TagPagesTests {
    @Test func nextPageLinksKeepOnlyThePath() {
        // Docker Hub sends relative links; some registries absolute ones.
        #expect(RegistryClient.nextPagePath([#"</v2/library/alpine/tags/list?last=3.19&n=100>; rel="next""#])
            == "/v2/library/alpine/tags/list?last=3.19&n=100")
        #expect(RegistryClient.nextPagePath([#"<https://registry.example:5000/v2/a/b/tags/list?n=2&last=x>; rel="next""#])
            == "/v2/a/b/tags/list?n=2&last=x")
    }

    @Test func anythingElseEndsTheListing() {
        #expect(RegistryClient.nextPagePath([#"</v2/a/tags/list?last=x>; rel="prev""#]) == nil)
        #expect(RegistryClient.nextPagePath([#"<https://elsewhere.example>; rel="next""#]) == nil)
        #expect(RegistryClient.nextPagePath([#"</not/the/api>; rel="next""#]) == nil)
        #expect(RegistryClient.nextPagePath(["garbage"]) == nil)
        #expect(RegistryClient.nextPagePath([]) == nil)
    }

    @Test func theNextLinkIsFoundAmongSeveral() {
        // several links in one header, prev first
        #expect(RegistryClient.nextPagePath([#"</v2/a/tags/list?last=a>; rel="prev", </v2/a/tags/list?last=z>; rel="next""#])
            == "/v2/a/tags/list?last=z")
        // several headers, prev first; rel unquoted and in capitals
        #expect(RegistryClient.nextPagePath([#"</v2/a/tags/list?last=a>; rel="prev""#, "</v2/a/tags/list?last=q>; REL=Next"])
            == "/v2/a/tags/list?last=q")
        // rel with several relation types
        #expect(RegistryClient.nextPagePath([#"</v2/a/tags/list?n=5>; title="more"; rel="last next""#]) == "/v2/a/tags/list?n=5")
    }
}
