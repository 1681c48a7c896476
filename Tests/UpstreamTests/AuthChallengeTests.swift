import Testing
import Upstream

@Suite struct AuthChallengeTests {
    @Test func bearerWithQuotedCommasAndSpaces() {
        let header = #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:org/app:pull,push repository:org/base:pull""#
        let challenges = AuthChallenge.parse(header)
        #expect(challenges.count == 1)
        let c = challenges[0]
        #expect(c.isBearer)
        #expect(c.realm == "https://auth.example/token")
        #expect(c.service == "registry.example")
        #expect(c.scope == "repository:org/app:pull,push repository:org/base:pull")
    }

    @Test func basic() {
        let c = AuthChallenge.parse(#"Basic realm="wharf test""#)
        #expect(c == [AuthChallenge(scheme: "basic", parameters: ["realm": "wharf test"])])
    }

    @Test func severalChallengesInOneHeaderAndOddSpacing() {
        let c = AuthChallenge.parse(#"Basic realm="a, b" ,  Bearer realm="https://t/x?y=1",error="invalid_token" , service=plain"#)
        #expect(c.count == 2)
        #expect(c[0].isBasic && c[0].realm == "a, b")
        #expect(c[1].isBearer && c[1].realm == "https://t/x?y=1" && c[1].error == "invalid_token" && c[1].service == "plain")
    }

    @Test func escapesAndCaseInsensitiveNames() {
        let c = AuthChallenge.parse(#"BEARER Realm="say \"hi\"",SERVICE="s""#)
        #expect(c.first?.isBearer == true)
        #expect(c.first?.realm == #"say "hi""#)
        #expect(c.first?.service == "s")
    }

    @Test func emptyOrGarbage() {
        #expect(AuthChallenge.parse("").isEmpty)
        #expect(AuthChallenge.parse("   ,,  ").isEmpty)
        #expect(AuthChallenge.parse("Negotiate").first?.scheme == "negotiate")
    }
}
