import Foundation
import Testing
import Upstream

@Suite struct CredentialStoreTests {
    @Test func parsesAuthAndUsernamePasswordEntries() throws {
        let json = """
            {"auths": {
              "https://index.docker.io/v1/": {"auth": "\(Data("hubuser:hub:pass".utf8).base64EncodedString())"},
              "registry.example:5000": {"username": "alice", "password": "pw"},
              "quay.io": {"auth": "\(Data("q:1".utf8).base64EncodedString())", "username": "ignored", "password": "ignored"},
              "ghcr.io": {"email": "nobody@example.com"}
            }, "credsStore": "desktop"}
            """
        let store = try CredentialStore(dockerConfigJSON: Data(json.utf8))
        // Password split on the first colon only.
        #expect(store.credentials(for: "docker.io") == Credentials(username: "hubuser", password: "hub:pass"))
        #expect(store.credentials(for: "registry-1.docker.io") == Credentials(username: "hubuser", password: "hub:pass"))
        #expect(store.credentials(for: "registry.example:5000") == Credentials(username: "alice", password: "pw"))
        #expect(store.credentials(for: "registry.example") == nil)
        #expect(store.credentials(for: "quay.io") == Credentials(username: "q", password: "1"))
        #expect(store.credentials(for: "ghcr.io") == nil)
    }

    @Test func keysWithSchemeAndPath() throws {
        let json = #"{"auths":{"http://Reg.Example/v2/":{"username":"u","password":"p"}}}"#
        let store = try CredentialStore(dockerConfigJSON: Data(json.utf8))
        #expect(store.credentials(for: "reg.example")?.username == "u")
    }

    @Test func legacyDockercfgShape() throws {
        let json = #"{"reg.example":{"username":"u","password":"p"}}"#
        #expect(try CredentialStore(dockerConfigJSON: Data(json.utf8)).credentials(for: "reg.example")?.password == "p")
    }

    @Test func badAuthIsAnError() {
        let json = #"{"auths":{"reg.example":{"auth":"bm9jb2xvbg=="}}}"#  // "nocolon"
        #expect(throws: UpstreamError.self) { try CredentialStore(dockerConfigJSON: Data(json.utf8)) }
    }

    @Test func basicHeaderAndRedaction() {
        let c = Credentials(username: "aladdin", password: "open sesame")
        #expect(c.basicAuthorization == "Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        #expect(!"\(c)".contains("sesame"))
    }
}
