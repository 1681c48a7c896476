import Foundation
import Testing
@testable import CDN

/// Reads the signing parameters back out of a signed URL.
struct SignedParts {
    var base: String
    var parameters: [(String, String)]

    init(_ url: String) {
        let question = url.firstIndex(of: "?")!
        base = String(url[..<question])
        parameters = url[url.index(after: question)...].split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1)
            return (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
        }
    }

    subscript(name: String) -> String? { parameters.first { $0.0 == name }?.1 }
    var names: [String] { parameters.map(\.0) }
}

@Suite("CloudFrontSigner")
struct CloudFrontSignerTests {
    static let blobURL = "https://d111111abcdef8.cloudfront.net/docker/registry/v2/blobs/sha256/ab/"
        + String(repeating: "ab", count: 32) + "/data"
    static let expires = Date(timeIntervalSince1970: 1_767_290_400)

    @Test("canned policy bytes are CloudFront's, verified by openssl (PKCS#1 and PKCS#8 keys)",
          arguments: [false, true])
    func cannedPolicyVerifiesWithOpenSSL(pkcs8: Bool) throws {
        let keys = try Keys.main
        let signer = try CloudFrontSigner(privateKeyPEM: pkcs8 ? keys.pkcs8PrivatePEM : keys.pkcs1PrivatePEM,
                                          keyPairID: "K2JCJMDEHXQW5F")
        let signed = try signer.sign(url: Self.blobURL, expires: Self.expires)
        let parts = SignedParts(signed)
        #expect(parts.base == Self.blobURL)
        #expect(parts.names == ["Expires", "Signature", "Key-Pair-Id"])
        #expect(parts["Expires"] == "1767290400")
        #expect(parts["Key-Pair-Id"] == "K2JCJMDEHXQW5F")
        let policy = #"{"Statement":[{"Resource":"\#(Self.blobURL)","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#
        let signature = try #require(CloudFrontBase64.decode(parts["Signature"]!))
        #expect(signature.count == 256)
        #expect(try OpenSSL.verify(policy: Array(policy.utf8), signature: signature, publicKeyPEM: keys.publicPEM, hash: "sha1"))
    }

    @Test("SHA-256 signs with SHA-256 and says so last in the URL")
    func sha256AddsHashAlgorithm() throws {
        let keys = try Keys.main
        let signer = try CloudFrontSigner(privateKeyPEM: keys.pkcs8PrivatePEM, keyPairID: "K2JCJMDEHXQW5F", hashAlgorithm: .sha256)
        let parts = SignedParts(try signer.sign(url: Self.blobURL, expires: Self.expires))
        #expect(parts.names == ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"])
        #expect(parts["Hash-Algorithm"] == "SHA256")
        let policy = CloudFrontPolicy.canned(resource: Self.blobURL, expires: 1_767_290_400).jsonBytes
        let signature = try #require(CloudFrontBase64.decode(parts["Signature"]!))
        #expect(try OpenSSL.verify(policy: policy, signature: signature, publicKeyPEM: keys.publicPEM, hash: "sha256"))
        #expect(try !OpenSSL.verify(policy: policy, signature: signature, publicKeyPEM: keys.publicPEM, hash: "sha1"))
    }

    @Test("known answer: the signature is byte for byte openssl dgst -sign's", arguments: ["sha1", "sha256"])
    func signatureEqualsOpenSSL(hash: String) throws {
        let keys = try Keys.main
        let signer = try CloudFrontSigner(privateKeyPEM: keys.pkcs1PrivatePEM, keyPairID: "APKA9ONS7QCOWEXAMPLE",
                                          hashAlgorithm: CloudFrontHashAlgorithm(name: hash)!)
        let policy = CloudFrontPolicy.canned(resource: "https://example.com/a?b=c&d=e", expires: 1_357_034_400).jsonBytes
        #expect(try signer.signature(for: policy) == OpenSSL.sign(policy: policy, privateKeyPEM: keys.pkcs1PrivatePEM, hash: hash))
    }

    @Test("custom policy: sent as Policy=, exact bytes, verified by openssl")
    func customPolicyVerifiesWithOpenSSL() throws {
        let keys = try Keys.main
        let signer = try CloudFrontSigner(privateKeyPEM: keys.pkcs8PrivatePEM, keyPairID: "K2JCJMDEHXQW5F")
        let policy = CloudFrontPolicy(resource: "https://d111111abcdef8.cloudfront.net/docker/*", expires: 1_767_290_400,
                                      notBefore: 1_767_280_000, sourceIP: IPAddressRange("192.0.2.0/24"))
        let parts = SignedParts(try signer.sign(url: Self.blobURL, policy: policy))
        #expect(parts.base == Self.blobURL)
        #expect(parts.names == ["Policy", "Signature", "Key-Pair-Id"])
        let sent = try #require(CloudFrontBase64.decode(parts["Policy"]!))
        let expected = #"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/docker/*","Condition":{"#
            + #""DateLessThan":{"AWS:EpochTime":1767290400},"DateGreaterThan":{"AWS:EpochTime":1767280000},"#
            + #""IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}}}]}"#
        #expect(String(decoding: sent, as: UTF8.self) == expected)
        let signature = try #require(CloudFrontBase64.decode(parts["Signature"]!))
        #expect(try OpenSSL.verify(policy: sent, signature: signature, publicKeyPEM: keys.publicPEM, hash: "sha1"))
    }

    @Test("the URL's own query is kept, signing parameters follow with &")
    func existingQueryParameters() throws {
        let signer = try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "K1")
        let url = "https://d111111abcdef8.cloudfront.net/image.jpg?color=red&size=medium"
        let signed = try signer.sign(url: url, expires: Self.expires)
        #expect(signed.hasPrefix(url + "&Expires=1767290400&Signature="))
        #expect(signed.hasSuffix("&Key-Pair-Id=K1"))
        // A trailing "?" is dropped, as AWS asks when there is no query.
        let bare = try signer.sign(url: "https://h.example/x?", expires: Self.expires)
        #expect(bare.hasPrefix("https://h.example/x?Expires="))
    }

    @Test("a URL that already carries a signing parameter, a fragment or no scheme is refused",
          arguments: ["https://h/x?Expires=1", "https://h/x?a=1&Signature=z", "https://h/x#frag", "h/x", "https://h/a b"])
    func refusesUnsignableURLs(url: String) throws {
        let signer = try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "K1")
        #expect { try signer.sign(url: url, expires: Self.expires) } throws: { ($0 as? CDNError)?.code == .malformed }
    }

    @Test("keys under 2048 bits are accepted with a warning; garbage is refused")
    func keySizes() throws {
        let small = try CloudFrontSigner(privateKeyPEM: Keys.small.pkcs1PrivatePEM, keyPairID: "K1")
        #expect(small.keySizeInBits == 1024)
        #expect(small.warnings.count == 1)
        let policy = CloudFrontPolicy.canned(resource: "https://h/x", expires: 1).jsonBytes
        #expect(try OpenSSL.verify(policy: policy, signature: small.signature(for: policy), publicKeyPEM: Keys.small.publicPEM, hash: "sha1"))
        #expect(try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "K1").warnings.isEmpty)
        #expect { try CloudFrontSigner(privateKeyPEM: "not a key", keyPairID: "K1") } throws: { ($0 as? CDNError)?.code == .invalidKey }
        #expect { try CloudFrontSigner(privateKeyPEM: Keys.main.publicPEM, keyPairID: "K1") } throws: { ($0 as? CDNError)?.code == .invalidKey }
        #expect { try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "") } throws: {
            ($0 as? CDNError)?.code == .invalidConfiguration
        }
    }

    @Test("signing is cheap: the key is parsed once (prints signatures per second)")
    func signaturesPerSecond() throws {
        let signer = try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "K2JCJMDEHXQW5F")
        let count = 400
        let start = ContinuousClock.now
        let cpuStart = Self.threadCPUSeconds()
        for index in 0..<count {
            _ = try signer.sign(url: Self.blobURL + "?n=\(index)", expires: Self.expires)
        }
        let cpu = Self.threadCPUSeconds() - cpuStart
        let elapsed = ContinuousClock.now - start
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // On a shared machine wall time depends on the neighbours; CPU time is what one core costs.
        print("CloudFrontSigner: \(count) canned signed URLs (RSA-2048, SHA-1): "
              + "\(Int(Double(count) / wall)) signatures/s wall, \(Int(Double(count) / cpu)) per CPU-second")
        #expect(wall > 0 && cpu > 0)
    }

    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
