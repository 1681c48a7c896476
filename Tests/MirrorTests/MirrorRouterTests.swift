@testable import Mirror
import OCI
import Testing

@Suite struct MirrorRouterTests {
    static func name(_ text: String) -> RepositoryName { RepositoryName(text)! }

    func router(default registry: String? = "docker.io", allowUnlisted: Bool = true, pullthrough: Bool = true) -> MirrorRouter {
        var configuration = MirrorConfiguration()
        configuration.defaultRegistry = registry
        configuration.allowUnlisted = allowUnlisted
        configuration.pullthrough = pullthrough
        configuration.upstreams = [.init(registry: "quay.io")]
        return MirrorRouter(configuration: configuration)
    }

    @Test func bareNamesGoToTheDefaultRegistryWithHubNormalisation() throws {
        let route = try router().route(Self.name("alpine"), namespace: nil)
        #expect(route == MirrorRoute(localRepository: Self.name("library/alpine"), registry: "docker.io",
                                     upstreamRepository: Self.name("library/alpine")))
    }

    @Test func containerdNamespaceSelectsTheRegistry() throws {
        let route = try router().route(Self.name("team/app"), namespace: "quay.io")
        #expect(route?.registry == "quay.io")
        #expect(route?.upstreamRepository == Self.name("team/app"))
        #expect(route?.localRepository == Self.name("quay.io/team/app"))
        // The default registry's content lives under its upstream names, however it is reached.
        #expect(try router().route(Self.name("library/alpine"), namespace: "docker.io")?.localRepository == Self.name("library/alpine"))
        #expect(try router().route(Self.name("alpine"), namespace: "registry-1.docker.io")?.upstreamRepository == Self.name("library/alpine"))
    }

    @Test func aRegistryPrefixSelectsTheRegistry() throws {
        let route = try router().route(Self.name("registry.lab_5000/team/app"), namespace: nil)
        #expect(route?.registry == "registry.lab:5000")
        #expect(route?.upstreamRepository == Self.name("team/app"))
        #expect(route?.localRepository == Self.name("registry.lab_5000/team/app"))
        #expect(try router().route(Self.name("localhost/app"), namespace: nil)?.registry == "localhost")
        #expect(try router().route(Self.name("docker.io/alpine"), namespace: nil)?.upstreamRepository == Self.name("library/alpine"))
    }

    @Test func ordinaryFirstComponentsAreRepositories() throws {
        #expect(try router().route(Self.name("team_5/app"), namespace: nil)?.registry == "docker.io")
        #expect(try router(default: nil).route(Self.name("team/app"), namespace: nil) == nil)
    }

    @Test func unlistedRegistriesAreDenied() throws {
        #expect(throws: RegistryError.self) { try router(allowUnlisted: false).route(Self.name("app"), namespace: "ghcr.io") }
        #expect(try router(allowUnlisted: false).route(Self.name("app"), namespace: "quay.io") != nil)
        #expect(throws: RegistryError.self) { try router(allowUnlisted: false).route(Self.name("ghcr.io/x/app"), namespace: nil) }
    }

    @Test func pullthroughOffNeverRoutes() throws {
        #expect(try router(pullthrough: false).route(Self.name("alpine"), namespace: "quay.io") == nil)
    }

    @Test func anEmptyNamespaceIsIgnored() throws {
        #expect(try router().route(Self.name("team/app"), namespace: "")?.registry == "docker.io")
    }

    /// A namespace that is not a host in any canonical spelling is refused, never read as absent.
    @Test(arguments: ["a/b", "exa mple.com", "x?y", "2130706433", "0177.0.0.1", "0x7f.0.0.1:5000", "127.1"])
    func malformedNamespacesAreRefused(_ namespace: String) throws {
        #expect(throws: RegistryError.self) { try router().route(Self.name("team/app"), namespace: namespace) }
    }

    @Test(arguments: ["docker.io", "DOCKER.IO.", "docker.io:443", "index.docker.io", "registry-1.docker.io:0443"])
    func everyHubSpellingIsOneRoute(_ namespace: String) throws {
        let route = try #require(try router().route(Self.name("ubuntu"), namespace: namespace))
        #expect(route.registry == "docker.io" && route.upstreamRepository.value == "library/ubuntu" && route.localRepository.value == "library/ubuntu")
    }

    @Test func aDefaultRouteNameNamingARegistryIsRefused() throws {
        #expect(throws: RegistryError.self) { try router().route(Self.name("quay.io/x/y"), namespace: "docker.io") }
    }
}
