@testable import Server
import Testing

@Suite struct QueryStringTests {
    @Test func decodesParameters() {
        let query = QueryString.parse("/v2/a/blobs/uploads/?digest=sha256%3Aabc&mount=&from=a%2Fb&flag")
        #expect(query.map(\.name) == ["digest", "mount", "from", "flag"])
        #expect(query.map(\.value) == ["sha256:abc", "", "a/b", ""])
    }

    @Test func keepsMalformedEscapes() {
        #expect(QueryString.percentDecode("100%zz%4") == "100%zz%4")
    }
}
