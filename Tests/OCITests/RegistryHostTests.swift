import OCI
import Testing

@Suite struct RegistryHostTests {
    @Test(arguments: [
        ("quay.io", "quay.io"), ("QUAY.IO", "quay.io"), ("quay.io.", "quay.io"), ("quay.io:443", "quay.io"),
        ("quay.io:0443", "quay.io"), ("quay.io:5000", "quay.io:5000"), ("quay.io:05000", "quay.io:5000"),
        ("docker.io", "docker.io"), ("index.docker.io", "docker.io"), ("registry-1.docker.io", "docker.io"),
        ("docker.io:443", "docker.io"), ("DOCKER.IO.", "docker.io"), ("Registry.Hub.Docker.Com.:443", "docker.io"),
        ("localhost", "localhost"), ("localhost:5000", "localhost:5000"), ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("10.0.0.255", "10.0.0.255"), ("[::1]", "[::1]"), ("[0:0::1]:5000", "[::1]:5000"), ("::1", "[::1]"),
        ("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]"),
    ])
    func canonicalSpellings(_ text: String, _ expected: String) {
        #expect(RegistryHost.canonical(text) == expected)
    }

    @Test(arguments: [
        "", ".", "quay..io", "-quay.io", "quay-.io", "quay.io:", "quay.io:0", "quay.io:65536", "quay.io:123456", "quay.io:x",
        "quay_io", "a b", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "127.0.0.01", "256.0.0.1",
        "1.2.3.4.5", "[::1", "[nothost]", "[::1]x", "[fe80::1%eth0]",
    ])
    func refusesHostsWithoutACanonicalSpelling(_ text: String) {
        #expect(RegistryHost.canonical(text) == nil, "\(text)")
    }

    @Test func pathFormRoundTrips() {
        #expect(RegistryHost.pathForm("registry.example:5000") == "registry.example_5000")
        #expect(RegistryHost.pathForm("quay.io") == "quay.io")
        #expect(RegistryHost.pathForm("[::1]:5000") == nil)
        #expect(RegistryHost.pathComponent("registry.example_5000") == .registry("registry.example:5000"))
        #expect(RegistryHost.pathComponent("docker.io_443") == .registry("docker.io"))
        #expect(RegistryHost.pathComponent("index.docker.io") == .registry("docker.io"))
        #expect(RegistryHost.pathComponent("localhost_05000") == .registry("localhost:5000"))
        #expect(RegistryHost.pathComponent("team_5") == .repository)
        #expect(RegistryHost.pathComponent("library") == .repository)
        #expect(RegistryHost.pathComponent("0x7f.0.0.1_5000") == .invalid)
        #expect(RegistryHost.pathComponent("127.1") == .invalid)
        #expect(RegistryHost.pathComponent("my_team.example") == .invalid)
    }
}
