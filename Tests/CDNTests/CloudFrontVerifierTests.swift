import Foundation
import Testing
@testable import CDN

@Suite("CloudFrontVerifier")
struct CloudFrontVerifierTests {
    static let url = "https://edge.example.com/docker/registry/v2/blobs/sha256/ab/" + String(repeating: "ab", count: 32) + "/data"
    static let signedAt = Date(timeIntervalSince1970: 1_767_290_000)
    static let expires = Date(timeIntervalSince1970: 1_767_290_400)

    static func signer(_ id: String = "K2JCJMDEHXQW5F", keys: TestKeyPair? = nil,
                       hash: CloudFrontHashAlgorithm = .sha1) throws -> CloudFrontSigner {
        try CloudFrontSigner(privateKeyPEM: (keys ?? Keys.main).pkcs8PrivatePEM, keyPairID: id, hashAlgorithm: hash)
    }

    static func verifier() throws -> CloudFrontVerifier {
        try CloudFrontVerifier(publicKeys: ["K2JCJMDEHXQW5F": Keys.main.publicPEM, "KOTHER": Keys.other.publicPEM])
    }

    static func expectCode(_ code: CDNError.Code, url: String, clientIP: String? = "192.0.2.7",
                           now: Date = signedAt, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verifier = try verifier()
        do throws(CDNError) {
            let grant = try verifier.verify(url: url, clientIP: clientIP, now: now)
            Issue.record("expected \(code), got a grant for \(grant.resource)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        }
    }

    @Test("a valid canned URL is accepted (SHA-1 and SHA-256), own query parameters kept",
          arguments: [CloudFrontHashAlgorithm.sha1, .sha256])
    func acceptsCanned(hash: CloudFrontHashAlgorithm) throws {
        let resource = Self.url + "?ns=docker.io"
        let signed = try Self.signer(hash: hash).sign(url: resource, expires: Self.expires)
        let grant = try Self.verifier().verify(url: signed, clientIP: nil, now: Self.signedAt)
        #expect(grant == .init(keyPairID: "K2JCJMDEHXQW5F", resource: resource, expires: 1_767_290_400, isCanned: true))
    }

    @Test("a valid custom URL is accepted: wildcard resource, IPv4 and IPv6 ranges, not-before passed")
    func acceptsCustom() throws {
        let verifier = try Self.verifier()
        let wildcard = CloudFrontPolicy(resource: "https://edge.example.com/docker/*", expires: 1_767_290_400,
                                        notBefore: 1_767_289_000, sourceIP: IPAddressRange("192.0.2.0/24"))
        let signed = try Self.signer().sign(url: Self.url, policy: wildcard)
        let grant = try verifier.verify(url: signed, clientIP: "192.0.2.99", now: Self.signedAt)
        #expect(grant.resource == Self.url)
        #expect(!grant.isCanned)
        // IPv4-mapped client address, as a dual-stack socket reports it.
        _ = try verifier.verify(url: signed, clientIP: "::ffff:192.0.2.1", now: Self.signedAt)

        let v6 = CloudFrontPolicy(resource: Self.url, expires: 1_767_290_400, sourceIP: IPAddressRange("2001:db8:1::/48"))
        let signedV6 = try Self.signer().sign(url: Self.url, policy: v6)
        _ = try verifier.verify(url: signedV6, clientIP: "2001:db8:1:ffff::5", now: Self.signedAt)

        // No Resource: any URL under a trusted key.
        let anywhere = CloudFrontPolicy(resource: nil, expires: 1_767_290_400)
        let signedAnywhere = try Self.signer().sign(url: "https://edge.example.com/other", policy: anywhere)
        _ = try verifier.verify(url: signedAnywhere, clientIP: nil, now: Self.signedAt)
    }

    @Test("request target + Host header reconstructs the signed resource")
    func verifiesRequestTarget() throws {
        let signed = try Self.signer().sign(url: "http://127.0.0.1:5001/docker/x/data", expires: Self.expires)
        let target = String(signed.dropFirst("http://127.0.0.1:5001".count))
        let grant = try Self.verifier().verify(requestTarget: target, scheme: "http", host: "127.0.0.1:5001",
                                               clientIP: "127.0.0.1", now: Self.signedAt)
        #expect(grant.resource == "http://127.0.0.1:5001/docker/x/data")
        let edge = CDNEdgeConfiguration(keys: [], origin: "http://origin", baseURL: "https://cdn.example/")
        #expect(edge.requestURL(target: "/a/b?x=1", scheme: "http", host: "ignored") == "https://cdn.example/a/b?x=1")
    }

    @Test("expired URLs are refused (canned and custom)")
    func refusesExpired() throws {
        let canned = try Self.signer().sign(url: Self.url, expires: Self.expires)
        try Self.expectCode(.expired, url: canned, now: Self.expires)
        try Self.expectCode(.expired, url: canned, now: Self.expires.addingTimeInterval(3600))
        let custom = try Self.signer().sign(url: Self.url, policy: .init(resource: Self.url, expires: 1_767_290_400, notBefore: 1))
        try Self.expectCode(.expired, url: custom, now: Self.expires.addingTimeInterval(1))
    }

    @Test("clock skew tolerance applies to expiry")
    func clockSkew() throws {
        let canned = try Self.signer().sign(url: Self.url, expires: Self.expires)
        let tolerant = try CloudFrontVerifier(publicKeys: ["K2JCJMDEHXQW5F": Keys.main.publicPEM], allowedClockSkew: .seconds(30))
        _ = try tolerant.verify(url: canned, clientIP: nil, now: Self.expires.addingTimeInterval(10))
    }

    @Test("tampered URLs are refused as bad signatures")
    func refusesTampered() throws {
        let signed = try Self.signer().sign(url: Self.url, expires: Self.expires)
        // Changed path.
        try Self.expectCode(.badSignature, url: signed.replacingOccurrences(of: "/blobs/sha256/ab/", with: "/blobs/sha256/ac/"))
        // Changed Expires (later).
        try Self.expectCode(.badSignature, url: signed.replacingOccurrences(of: "Expires=1767290400", with: "Expires=1767299999"))
        // Added query parameter.
        try Self.expectCode(.badSignature, url: signed.replacingOccurrences(of: "/data?", with: "/data?x=1&"))
        // One flipped signature character.
        let parts = SignedParts(signed)
        let signature = parts["Signature"]!
        var characters = Array(signature)
        let index = characters.count / 2
        characters[index] = characters[index] == "A" ? "B" : "A"
        try Self.expectCode(.badSignature, url: signed.replacingOccurrences(of: signature, with: String(characters)))
        // Canned URL re-labelled as SHA-256.
        try Self.expectCode(.badSignature, url: signed + "&Hash-Algorithm=SHA256")
    }

    @Test("another key: unknown key-pair id, or a known id with someone else's key")
    func refusesWrongKey() throws {
        let unknown = try Self.signer("KNOBODY").sign(url: Self.url, expires: Self.expires)
        try Self.expectCode(.unknownKey, url: unknown)
        let impostor = try Self.signer("K2JCJMDEHXQW5F", keys: Keys.other).sign(url: Self.url, expires: Self.expires)
        try Self.expectCode(.badSignature, url: impostor)
        let swapped = try Self.signer().sign(url: Self.url, expires: Self.expires)
            .replacingOccurrences(of: "Key-Pair-Id=K2JCJMDEHXQW5F", with: "Key-Pair-Id=KOTHER")
        try Self.expectCode(.badSignature, url: swapped)
    }

    @Test("wrong client IP is refused; so is an unknown one")
    func refusesWrongIP() throws {
        let policy = CloudFrontPolicy(resource: Self.url, expires: 1_767_290_400, sourceIP: IPAddressRange("192.0.2.7"))
        let signed = try Self.signer().sign(url: Self.url, policy: policy)
        try Self.expectCode(.ipNotAllowed, url: signed, clientIP: "192.0.2.8")
        try Self.expectCode(.ipNotAllowed, url: signed, clientIP: "2001:db8::1")
        try Self.expectCode(.ipNotAllowed, url: signed, clientIP: nil)
        _ = try Self.verifier().verify(url: signed, clientIP: "192.0.2.7", now: Self.signedAt)
    }

    @Test("not-yet-valid URLs are refused")
    func refusesNotYetValid() throws {
        let policy = CloudFrontPolicy(resource: Self.url, expires: 1_767_290_400, notBefore: 1_767_290_100)
        let signed = try Self.signer().sign(url: Self.url, policy: policy)
        try Self.expectCode(.notYetValid, url: signed)
        _ = try Self.verifier().verify(url: signed, clientIP: nil, now: Date(timeIntervalSince1970: 1_767_290_100))
    }

    @Test("a custom policy's resource must match the request")
    func refusesOtherResource() throws {
        let exact = CloudFrontPolicy(resource: Self.url, expires: 1_767_290_400)
        let signed = try Self.signer().sign(url: Self.url, policy: exact)
        try Self.expectCode(.resourceMismatch, url: signed.replacingOccurrences(of: "/sha256/ab/", with: "/sha256/cd/"))
        let wildcard = CloudFrontPolicy(resource: "https://edge.example.com/docker/*/data", expires: 1_767_290_400)
        let other = try Self.signer().sign(url: "https://edge.example.com/secret/key", policy: wildcard)
        try Self.expectCode(.resourceMismatch, url: other)
    }

    @Test("malformed signing parameters", arguments: [
        "https://edge.example.com/x",
        "https://edge.example.com/x?Expires=1767290400&Key-Pair-Id=K2JCJMDEHXQW5F",
        "https://edge.example.com/x?Expires=soon&Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F",
        "https://edge.example.com/x?Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F",
        "https://edge.example.com/x?Expires=1&Expires=2&Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F",
        "https://edge.example.com/x?Policy=e30_&Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F",
        "https://edge.example.com/x?Expires=1&Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=MD5",
        "https://edge.example.com/x?Expires=1&Signature=!!&Key-Pair-Id=K2JCJMDEHXQW5F",
    ])
    func refusesMalformed(url: String) throws {
        try Self.expectCode(.malformed, url: url)
    }

    @Test("a custom policy that is not CloudFront's shape is malformed even when signed")
    func refusesSignedNonsense() throws {
        let signer = try Self.signer()
        for json in [#"{"Statement":[]}"#, #"{"Statement":[{"Resource":"x","Condition":{}}]}"#,
                     #"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":"1767290400"}}}]}"#, "not json"] {
            let bytes = Array(json.utf8)
            let url = Self.url + "?Policy=" + CloudFrontBase64.encode(bytes) + "&Signature="
                + CloudFrontBase64.encode(try signer.signature(for: bytes)) + "&Key-Pair-Id=K2JCJMDEHXQW5F"
            try Self.expectCode(.malformed, url: url)
        }
    }

    @Test("bad public keys are refused at construction")
    func refusesBadPublicKey() throws {
        #expect { try CloudFrontVerifier(publicKeys: ["K1": "nonsense"]) } throws: { ($0 as? CDNError)?.code == .invalidKey }
        let small = try CloudFrontVerifier(publicKeys: ["K1": Keys.small.publicPEM])
        #expect(small.warnings.count == 1)
    }
}
