import OCI
import Testing

@Suite struct DigestTests {
    static let hex64 = String(repeating: "a", count: 64)

    @Test(arguments: [
        "sha256:" + hex64,
        "sha512:" + String(repeating: "0", count: 128),
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
    ])
    func acceptsGrammaticalDigests(_ text: String) {
        #expect(Digest(text)?.description == text)
    }

    @Test(arguments: [
        "", "sha256", "sha256:", ":" + hex64, "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 63), "sha256:totallywrong", "SHA256:" + hex64,
        "sha512:" + hex64, "sha256:" + hex64 + "/..", "sha256::" + hex64, "-sha:abc", "sha256:../../etc",
    ])
    func refusesMalformedDigests(_ text: String) {
        #expect(Digest(text) == nil)
    }

    @Test func hashesKnownAnswers() {
        // The OCI empty descriptor `{}` has a digest the conformance suite asserts.
        #expect(Digest.sha256(of: Array("{}".utf8)).description
                == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        var hasher = DigestHasher(algorithm: .sha512)
        hasher.update(Array("abc".utf8))
        #expect(hasher.finalize().encoded.hasPrefix("ddaf35a193617aba"))
    }

    @Test func verifiesContentAgainstItsDigest() {
        let digest = Digest.sha256(of: Array("hello".utf8))
        #expect(digest.matches(Array("hello".utf8)))
        #expect(!digest.matches(Array("hellO".utf8)))
        #expect(Digest("foo:bar")?.isVerifiable == false)
    }
}
