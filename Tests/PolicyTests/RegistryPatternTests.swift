import Policy
import Testing

@Suite struct RegistryPatternTests {
    @Test(arguments: [
        // host only: any repository, any port
        ("quay.io", "quay.io", "org/app", true),
        ("quay.io", "quay.io:443", "org/app", true),
        ("quay.io", "quay.io.evil.example", "org/app", false),
        ("quay.io", "evilquay.io", "org/app", false),
        ("QUAY.io", "quay.IO", "org/app", true),
        // port
        ("registry.lab.example:5000", "registry.lab.example:5000", "a", true),
        ("registry.lab.example:5000", "registry.lab.example", "a", false),
        ("registry.lab.example:5000", "registry.lab.example:5001", "a", false),
        // `*` is exactly one label
        ("*.untrusted.example", "a.untrusted.example", "x", true),
        ("*.untrusted.example", "a.untrusted.example:8443", "x", true),
        ("*.untrusted.example", "untrusted.example", "x", false),
        ("*.untrusted.example", "a.b.untrusted.example", "x", false),
        ("registry.*.example", "registry.eu.example", "x", true),
        ("*", "localhost:5000", "x", true),
        ("*", "quay.io", "x", false),
        // Docker Hub aliases are docker.io
        ("docker.io", "registry-1.docker.io", "library/alpine", true),
        ("index.docker.io/library/*", "docker.io", "library/alpine", true),
        // repository globs
        ("docker.io/library/*", "docker.io", "library/alpine", true),
        ("docker.io/library/*", "docker.io", "library/alpine/extra", false),
        ("docker.io/library/*", "docker.io", "someorg/alpine", false),
        ("docker.io/someorg/**", "docker.io", "someorg/app", true),
        ("docker.io/someorg/**", "docker.io", "someorg/team/app", true),
        ("docker.io/someorg/**", "docker.io", "someorg", false),
        ("docker.io/someorg/**", "docker.io", "someorgx/app", false),
        ("docker.io/**/app", "docker.io", "a/b/c/app", true),
        ("docker.io/**/app", "docker.io", "a/b/c/apps", false),
        ("quay.io/org/app-*", "quay.io", "org/app-1", true),
        ("quay.io/org/app-*", "quay.io", "org/app", false),
        ("quay.io/org/*-dev", "quay.io", "org/web-dev", true),
        ("quay.io/org/app", "quay.io", "org/app", true),
        ("quay.io/org/app", "quay.io", "org/app2", false),
        ("quay.io/*/app", "quay.io", "a/b/app", false),
        ("127.0.0.1:5000/team/*", "127.0.0.1:5000", "team/app", true),
    ])
    func matching(pattern: String, registry: String, repository: String, expected: Bool) throws {
        let parsed = try RegistryPattern(parsing: pattern)
        #expect(parsed.matches(registry: registry, repository: repository) == expected)
    }

    @Test func aRepositoryPatternDoesNotMatchTheRegistryAsAWhole() throws {
        #expect(try RegistryPattern(parsing: "quay.io/org/*").matches(registry: "quay.io", repository: nil) == false)
        #expect(try RegistryPattern(parsing: "quay.io").matches(registry: "quay.io", repository: nil))
    }

    @Test(arguments: ["", "  ", "quay.io:", "quay.io:0", "quay.io:70000", "quay.io:abc", "a..b", ".quay.io", "reg*.example",
                      "quay.io/", "quay.io//a", "quay.io/a/", "quay.io/A B", "quay_io", "quay.io/a:tag"])
    func invalidPatternsAreRefused(text: String) {
        #expect(throws: PolicyError.self) { try RegistryPattern(parsing: text) }
    }

    /// Pairs (less specific, more specific), each of which can match one common request.
    @Test(arguments: [
        ("*.example.com", "registry.example.com"),          // literal labels
        ("registry.example.com", "registry.example.com:5000"),  // port
        ("*.example.com:5000", "registry.example.com"),      // labels before port
        ("docker.io", "docker.io/**"),                         // a repository glob beats registry-wide
        ("*.io/library/alpine", "docker.io:443"),            // ...but host labels decide first
        ("docker.io/**", "docker.io/library/*"),              // literal characters
        ("docker.io/library/*", "docker.io/library/alpine"),
        ("docker.io/*/alpine", "docker.io/library/*"),        // "library/" has 8 literal characters, "/alpine" 7
        ("docker.io/a/**", "docker.io/a/*"),                  // same literals: fewer `**`
        ("docker.io/a*-*", "docker.io/a-*"),                  // same literals and `**`: fewer `*`
    ])
    func specificityOrdersPatterns(less: String, more: String) throws {
        let l = try RegistryPattern(parsing: less).specificity
        let m = try RegistryPattern(parsing: more).specificity
        #expect(l < m)
        #expect(!(m < l))
    }

    @Test func specificityCountsWhatItDocuments() throws {
        let s = try RegistryPattern(parsing: "*.example.com:5000/team/**/app-*").specificity
        #expect(s.literalHostLabels == 2)
        #expect(s.hasPort)
        #expect(s.hasRepository)
        #expect(s.literalRepositoryCharacters == "team//app-".count)
        #expect(s.multiSegmentWildcards == 1)
        #expect(s.singleSegmentWildcards == 1)
    }

    @Test func equalPatternsAreEquallySpecific() throws {
        let a = try RegistryPattern(parsing: "quay.io/org/*").specificity
        let b = try RegistryPattern(parsing: "quay.io/*/app").specificity
        #expect(a == b)  // 4 literal characters each ("org/", "/app"), one `*` each
        #expect(!(a < b) && !(b < a))
    }
}

@Suite struct RegistryPatternCanonicalTests {
    /// A block of `docker.io/library/ubuntu` holds however the registry is written.
    @Test(arguments: ["docker.io", "DOCKER.IO", "docker.io.", "docker.io:443", "index.docker.io", "registry-1.docker.io:0443", "index.docker.io."])
    func hubSpellingsAreOneHost(_ registry: String) throws {
        let pattern = try RegistryPattern(parsing: "docker.io/library/ubuntu")
        #expect(pattern.matches(registry: registry, repository: "library/ubuntu"))
    }

    @Test func portsAreNumbersAnd443IsNoPort() throws {
        #expect(try RegistryPattern(parsing: "quay.io:443").matches(registry: "quay.io", repository: nil))
        #expect(try !RegistryPattern(parsing: "quay.io:443").matches(registry: "quay.io:5000", repository: nil))
        #expect(try RegistryPattern(parsing: "quay.io:05000").matches(registry: "quay.io:5000", repository: nil))
        #expect(try RegistryPattern(parsing: "registry.example.").matches(registry: "REGISTRY.example:5000", repository: nil))
        #expect(try RegistryPattern(parsing: "[::1]:5000").matches(registry: "[0::1]:5000", repository: nil))
    }

    @Test(arguments: ["2130706433", "0177.0.0.1", "0x7f.0.0.1/**", "127.1"])
    func nonDecimalIPv4IsRefused(_ text: String) {
        #expect(throws: PolicyError.self) { try RegistryPattern(parsing: text) }
    }
}
