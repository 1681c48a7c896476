import Crypto
import Foundation
import Logging
import NIOHTTP1
import OCI
@testable import Server
import Testing

/// Who gets 401 and who gets 403, the challenge's exact form, the grants a token endpoint
/// gives, and the `auth` configuration section.
@Suite struct AuthAccessTests {
    static let issuedAt = Date(timeIntervalSince1970: 1_800_000_000)

    func access(policy: AccessPolicy = AuthTokenTests.policy, realm: String? = nil, tls: Bool = false) throws -> AccessControl {
        var settings = AuthSettings(htpasswdPath: "unused")
        settings.policy = policy
        settings.tokenRealm = realm
        let users = try Htpasswd(text: AuthCredentialTests.file, source: "f")
        return try AccessControl(settings: settings, passwords: PasswordVerifier(users: users, logger: Logger(label: "test")),
                                 key: AuthTokenTests.key, usesTLS: tls, fallbackAuthority: "localhost:5000",
                                 logger: Logger(label: "test"), now: { Self.issuedAt })
    }

    func request(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) -> (HTTPRequest, RegistryRoute) {
        let host = headers.contains { $0.0 == "Host" } ? [] : [("Host", "registry.test:5000")]
        let request = HTTPRequest(method: method, uri: uri, headers: HTTPHeaders(host + headers))
        guard case .success(let route) = RegistryRoute.parse(request.path) else { fatalError("not a route: \(uri)") }
        return (request, route)
    }

    static func basic(_ user: String, _ password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }

    /// The error `authorize` throws, or nil when the request may go ahead.
    func refusal(_ access: AccessControl, _ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) async -> RegistryError? {
        let (request, route) = request(method, uri, headers)
        do {
            _ = try await access.authorize(request, route: route)
            return nil
        } catch let error as RegistryError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    func challenge(_ error: RegistryError?) -> String? {
        error?.headers.first { $0.0 == "WWW-Authenticate" }?.1
    }

    @Test func anonymousClientsGetTheExactBearerChallenge() async throws {
        let access = try access()
        let pull = await refusal(access, .GET, "/v2/team/app/manifests/v1")
        #expect(pull?.code == .unauthorized)
        #expect(challenge(pull) == #"Bearer realm="http://registry.test:5000/auth/token",service="wharf",scope="repository:team/app:pull""#)
        let push = await refusal(access, .POST, "/v2/team/app/blobs/uploads/")
        #expect(challenge(push) == #"Bearer realm="http://registry.test:5000/auth/token",service="wharf",scope="repository:team/app:pull,push""#)
        let base = await refusal(access, .GET, "/v2/")
        #expect(challenge(base) == #"Bearer realm="http://registry.test:5000/auth/token",service="wharf""#)
        #expect(await refusal(access, .GET, "/v2/public/base/manifests/v1") == nil, "anonymous pull is allowed there")
        #expect(await refusal(access, .PUT, "/v2/public/base/manifests/v1")?.code == .unauthorized)
    }

    @Test func theRealmFollowsTLSAndAProxyOrTheOverride() async throws {
        #expect(challenge(await refusal(try access(tls: true), .GET, "/v2/"))?.contains(#"realm="https://registry.test:5000/auth/token""#) == true)
        let proxied = await refusal(try access(), .GET, "/v2/", [("X-Forwarded-Proto", "https")])
        #expect(challenge(proxied)?.contains(#"realm="https://registry.test:5000/auth/token""#) == true)
        let fixed = await refusal(try access(realm: "https://wharf.example/auth/token"), .GET, "/v2/")
        #expect(challenge(fixed)?.hasPrefix(#"Bearer realm="https://wharf.example/auth/token","#) == true)
        let odd = await refusal(try access(), .GET, "/v2/", [("Host", #"evil",x=""#)])
        #expect(challenge(odd)?.contains(#"realm="http://localhost:5000/auth/token""#) == true)
    }

    @Test func basicCredentialsWorkDirectlyAndAWrongPasswordIs401() async throws {
        let access = try access()
        #expect(await refusal(access, .PUT, "/v2/team/app/manifests/v1", [Self.basic("alice", "correct horse")]) == nil)
        #expect(await refusal(access, .GET, "/v2/", [Self.basic("bob", "p@ss:word")]) == nil)
        let wrong = await refusal(access, .GET, "/v2/team/app/manifests/v1", [Self.basic("alice", "wrong")])
        #expect(wrong?.code == .unauthorized)
        #expect(challenge(wrong)?.hasPrefix("Bearer ") == true)
        #expect(await refusal(access, .GET, "/v2/", [Self.basic("nobody", "x")])?.code == .unauthorized)
    }

    @Test func anAuthenticatedUserWithoutThePermissionIsDeniedNamingRepositoryAndAction() async throws {
        let access = try access()
        let push = await refusal(access, .POST, "/v2/team/app/blobs/uploads/", [Self.basic("bob", "p@ss:word")])
        #expect(push?.code == .denied)
        #expect(push?.message.contains(#"user "bob" may not push to repository team/app"#) == true, "\(push?.message ?? "")")
        #expect(push?.detailJSON == #"[{"Type":"repository","Name":"team/app","Action":"push"}]"#)
        let delete = await refusal(access, .DELETE, "/v2/team/app/manifests/sha256:" + String(repeating: "a", count: 64),
                                   [Self.basic("bob", "p@ss:word")])
        #expect(delete?.message.contains("may not delete from repository team/app") == true)
    }

    @Test func tokensGrantOnlyWhatWasAskedAndPermitted() throws {
        let access = try access()
        let asked = ResourceScope.parseList("repository:team/app:pull,push,delete repository:other/x:pull registry:catalog:* repository:shared/y:*")!
        #expect(access.grants(for: "bob", asked) == [
            .init(type: "repository", name: "team/app", actions: ["pull"]),
            .init(type: "registry", name: "catalog", actions: ["*"]),
            .init(type: "repository", name: "shared/y", actions: ["pull"]),
        ])
        #expect(access.grants(for: "alice", asked).first == .init(type: "repository", name: "team/app", actions: ["pull", "push", "delete"]))
        #expect(access.grants(for: nil, ResourceScope.parseList("repository:public/a:pull,push repository:team/app:pull")!)
            == [.init(type: "repository", name: "public/a", actions: ["pull"])])
    }

    @Test func aTokenOpensOnlyItsScope() async throws {
        let access = try access()
        let (token, _) = access.tokens.issue(subject: "alice", access: [.init(type: "repository", name: "team/app", actions: ["pull"])],
                                             now: Self.issuedAt)
        let bearer = ("Authorization", "Bearer \(token)")
        #expect(await refusal(access, .GET, "/v2/team/app/manifests/v1", [bearer]) == nil)
        #expect(await refusal(access, .GET, "/v2/", [bearer]) == nil)
        // alice may push, but this token does not say so: a new token would help, so 401.
        let push = await refusal(access, .PUT, "/v2/team/app/manifests/v1", [bearer])
        #expect(push?.code == .unauthorized)
        #expect(challenge(push)?.hasSuffix(#"scope="repository:team/app:pull,push",error="insufficient_scope""#) == true)
        #expect(await refusal(access, .GET, "/v2/team/other/manifests/v1", [bearer])?.code == .unauthorized)
        // bob's token cannot become a push: bob may not push at all, so 403.
        let (bobs, _) = access.tokens.issue(subject: "bob", access: [.init(type: "repository", name: "team/app", actions: ["pull"])],
                                            now: Self.issuedAt)
        #expect(await refusal(access, .PUT, "/v2/team/app/manifests/v1", [("Authorization", "Bearer \(bobs)")])?.code == .denied)
        let bad = await refusal(access, .GET, "/v2/team/app/manifests/v1", [("Authorization", "Bearer \(token)x")])
        #expect(challenge(bad)?.hasSuffix(#",error="invalid_token""#) == true)
    }

    @Test func aMountFromARepositoryTheClientMayNotPullStartsAPlainUpload() async throws {
        let access = try access()
        let digest = "sha256:" + String(repeating: "b", count: 64)
        let (allowed, route) = request(.POST, "/v2/team/app/blobs/uploads/?mount=\(digest)&from=shared/x", [Self.basic("alice", "correct horse")])
        #expect(try await access.authorize(allowed, route: route).request.queryValue("from") == "shared/x")
        let (hidden, _) = request(.POST, "/v2/team/app/blobs/uploads/?mount=\(digest)&from=secret/x&n=1", [Self.basic("alice", "correct horse")])
        let decision = try await access.authorize(hidden, route: route)
        #expect(decision.request.queryValue("mount") == nil)
        #expect(decision.request.queryValue("from") == nil)
        #expect(decision.request.uri == "/v2/team/app/blobs/uploads/?n=1")
    }

    @Test func theCatalogListsOnlyWhatTheClientMayPull() async throws {
        let access = try access()
        let (request, route) = request(.GET, "/v2/_catalog", [Self.basic("bob", "p@ss:word")])
        let decision = try await access.authorize(request, route: route)
        let names = ["team/app", "secret/x", "shared/y", "public/z"].compactMap(RepositoryName.init)
        #expect(names.filter(decision.mayList).map(\.value) == ["team/app", "shared/y", "public/z"])
        #expect(await refusal(try self.access(policy: AccessPolicy(rules: [])), .GET, "/v2/_catalog")?.code == .unauthorized)
    }

    // MARK: Configuration

    static let base = ConfigurationTests.minimal + "\n"

    @Test func readsTheAuthSection() throws {
        let configuration = try Configuration.load(yaml: Self.base + """
            auth:
              htpasswd:
                realm: edge
                path: /etc/wharf/htpasswd
              token:
                service: edge-registry
                expiration: 90s
                signingkey: "0123456789abcdef0123456789abcdef"
              access:
                anonymouspull: [public/**]
                rules:
                  - repositories: [team/**]
                    read: [bob]
                    write: [alice]
            """, environment: ["REGISTRY_AUTH_TOKEN_REALM": "https://wharf.example/auth/token"])
        let auth = try #require(configuration.auth)
        #expect(auth.htpasswdRealm == "edge")
        #expect(auth.htpasswdPath == "/etc/wharf/htpasswd")
        #expect(auth.service == "edge-registry")
        #expect(auth.tokenLifetime == .seconds(90))
        #expect(auth.tokenRealm == "https://wharf.example/auth/token")
        #expect(auth.policy.allows("alice", .push, on: "team/a"))
        #expect(!auth.policy.allows("bob", .push, on: "team/a"))
        #expect(auth.policy.allows(nil, .pull, on: "public/a"))
        #expect(!configuration.warnings.contains { $0.hasPrefix("auth") })
    }

    @Test func environmentTurnsAuthOn() throws {
        let configuration = try Configuration.load(yaml: Self.base, environment: [
            "REGISTRY_AUTH_HTPASSWD_PATH": "/run/secrets/htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM": "r",
            "REGISTRY_AUTH_ACCESS_ANONYMOUSPULL": "true",
        ])
        #expect(configuration.auth?.htpasswdPath == "/run/secrets/htpasswd")
        #expect(configuration.auth?.policy.allows(nil, .pull, on: "any/thing") == true)
        #expect(configuration.auth?.policy.rules == nil)

        let ruled = try Configuration.load(yaml: Self.base, environment: [
            "REGISTRY_AUTH_HTPASSWD_PATH": "/p", "REGISTRY_AUTH_ACCESS_ANONYMOUSPULL": "public/*,docs/**",
            "REGISTRY_AUTH_ACCESS_RULES": #"[{repositories: ["team/**"], write: [alice]}]"#,
        ])
        let policy = try #require(ruled.auth?.policy)
        #expect(policy.allows("alice", .delete, on: "team/a/b"))
        #expect(!policy.allows("alice", .pull, on: "other/a"))
        #expect(policy.allows(nil, .pull, on: "docs/a/b") && policy.allows(nil, .pull, on: "public/a"))
        #expect(!policy.allows(nil, .pull, on: "public/a/b"))
    }

    @Test(arguments: [
        ("auth:\n  htpasswd:\n    realm: r", "auth.htpasswd.path: required"),
        ("auth:\n  token:\n    realm: https://x/token", "auth.token: needs auth.htpasswd"),
        ("auth:\n  htpasswd:\n    path: /p\n  token:\n    rootcertbundle: /c.pem", "auth.token.rootcertbundle: Wharf issues its own tokens"),
        ("auth:\n  htpasswd:\n    path: /p\n  token:\n    signingkey: short", "auth.token.signingkey: must be at least 32 bytes"),
        ("auth:\n  htpasswd:\n    path: /p\n  token:\n    realm: ftp://x", "auth.token.realm"),
        ("auth:\n  htpasswd:\n    path: /p\n  access:\n    rules:\n      - read: [bob]", "auth.access.rules[0].repositories: required"),
        ("auth:\n  htpasswd:\n    path: /p\n  access:\n    rules:\n      - repositories: [Team/*]", "is not a repository pattern"),
        ("auth:\n  htpasswd:\n    path: /p\n  access:\n    owner: x", "auth.access.owner: unknown key"),
        ("auth:\n  silly:\n    realm: x", "auth.silly: not supported"),
    ])
    func refusesBadAuthSections(yaml: String, expected: String) {
        do {
            _ = try Configuration.load(yaml: Self.base + yaml, environment: [:])
            Issue.record("accepted \(yaml)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }
}
