import OCI
@testable import Server
import Testing

@Suite struct RegistryRouteTests {
    static let digest = "sha256:" + String(repeating: "a", count: 64)
    static func name(_ text: String) -> RepositoryName { RepositoryName(text)! }

    @Test(arguments: [
        ("/v2/", RegistryRoute.base),
        ("/v2", .base),
        ("/v2/_catalog", .catalog),
        ("/v2/library/nginx/manifests/latest", .manifest(name("library/nginx"), "latest")),
        ("/v2/a/manifests/b/manifests/c", .manifest(name("a/manifests/b"), "c")),
        ("/v2/team/blobs/app/blobs/\(digest)", .blob(name("team/blobs/app"), digest)),
        ("/v2/a/b/blobs/uploads/", .uploads(name("a/b"))),
        ("/v2/a/b/blobs/uploads", .uploads(name("a/b"))),
        ("/v2/a/blobs/uploads/1234", .upload(name("a"), "1234")),
        ("/v2/a/tags/list", .tags(name("a"))),
        ("/v2/tags/tags/list", .tags(name("tags"))),
        ("/v2/a/referrers/\(digest)", .referrers(name("a"), digest)),
        ("/v2/registry.lab:5000/team/app/manifests/v1", .manifest(name("registry.lab_5000/team/app"), "v1")),
        ("/v2/localhost:5000/app/blobs/\(digest)", .blob(name("localhost_5000/app"), digest)),
    ])
    func parsesRoutes(path: String, expected: RegistryRoute) {
        #expect(RegistryRoute.parse(path[...]) == .success(expected))
    }

    @Test(arguments: ["/", "/v1/", "/v2x", "/v2/a", "/v2/a/manifests", "/v2/a/blobs/", "/v2/manifests/latest", "/healthz", "/v2/a/tags/list/"])
    func refusesNonAPIPaths(_ path: String) {
        #expect(RegistryRoute.parse(path[...]) == .failure(.notFound))
    }

    @Test(arguments: ["/v2/A/manifests/latest", "/v2/a//b/blobs/x", "/v2/../etc/manifests/x", "/v2/a/../b/tags/list",
                      "/v2/host:5000/manifests/latest", "/v2/host:x/app/manifests/latest", "/v2/a/b:1/manifests/latest"])
    func reportsInvalidNames(_ path: String) {
        guard case .failure(.invalidName) = RegistryRoute.parse(path[...]) else {
            Issue.record("expected an invalid name for \(path)")
            return
        }
    }
}
