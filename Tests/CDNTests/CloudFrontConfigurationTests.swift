import Foundation
import OCI
import Storage
import Testing
@testable import CDN

@Suite("CloudFront configuration and BlobRedirector")
struct CloudFrontConfigurationTests {
    static let required = ["baseurl": "d111111abcdef8.cloudfront.net", "privatekey": "/etc/wharf/cf.pem", "keypairid": "K2JCJMDEHXQW5F"]
    static let path = "middleware.storage[0].options"

    static func parse(_ extra: [String: String]) throws(CDNError) -> CloudFrontConfiguration {
        try CloudFrontConfiguration.parse(required.merging(extra) { $1 }, keyPath: path)
    }

    @Test("Distribution's options with defaults; baseurl normalised as Distribution does")
    func defaults() throws {
        let configuration = try Self.parse([:])
        #expect(configuration.baseURL == "https://d111111abcdef8.cloudfront.net/")
        #expect(configuration.privateKeyPath == "/etc/wharf/cf.pem")
        #expect(configuration.keyPairID == "K2JCJMDEHXQW5F")
        #expect(configuration.duration == .seconds(1200))
        #expect(configuration.hashAlgorithm == .sha1)
        #expect(configuration.policy == .canned)
        #expect(!configuration.clientIPCondition)
        #expect(configuration.notBefore == nil)
        #expect(configuration.warnings.isEmpty)
    }

    @Test("Wharf's additions")
    func additions() throws {
        let configuration = try Self.parse(["duration": "1h30m", "hashalgorithm": "SHA256", "clientipcondition": "true",
                                            "notbefore": "-30s", "ipfilteredby": "none", "awsregion": "us-east-1"])
        #expect(configuration.duration == .seconds(5400))
        #expect(configuration.hashAlgorithm == .sha256)
        #expect(configuration.policy == .custom)
        #expect(configuration.clientIPCondition)
        #expect(configuration.notBefore == .seconds(-30))
        #expect(configuration.warnings == ["\(Self.path).awsregion: has no effect without ipfilteredby aws/awsregion; ignored"])
    }

    @Test("errors name the key", arguments: [
        (["baseurl": ""], "baseurl: required"),
        (["privatekey": ""], "privatekey: required"),
        (["keypairid": "K 1"], "keypairid:"),
        (["duration": "forever"], "duration:"),
        (["duration": "-5m"], "duration:"),
        (["ipfilteredby": "aws"], "ipfilteredby:"),
        (["hashalgorithm": "md5"], "hashalgorithm:"),
        (["policy": "fancy"], "policy:"),
        (["policy": "canned", "clientipcondition": "true"], "policy:"),
        (["clientipcondition": "maybe"], "clientipcondition:"),
        (["notbefore": "soon"], "notbefore:"),
        (["bogus": "1"], "bogus: unknown cloudfront option"),
    ])
    func errorsNameTheKey(options: [String: String], expected: String) throws {
        do throws(CDNError) {
            _ = try Self.parse(options)
            Issue.record("no error for \(options)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.hasPrefix("\(Self.path).\(expected)"), "\(error.message)")
        }
    }

    @Test("the redirect URL is baseurl + Distribution's blob path, signed with a canned policy")
    func redirectsCanned() throws {
        let digest = Digest.sha256(of: Array("hello".utf8))
        #expect("/" + BlobRedirector.blobStoragePath(digest) == StorageLayout.blobData(digest).description)
        var configuration = try Self.parse(["duration": "10m"])
        configuration.baseURL = "https://cdn.example/"
        let redirector = try BlobRedirector(configuration: configuration, privateKeyPEM: Keys.main.pkcs1PrivatePEM)
        let now = Date(timeIntervalSince1970: 1_767_290_000)
        let url = try redirector.redirectURL(for: digest, clientIP: "192.0.2.1", now: now)
        let expectedBase = "https://cdn.example/docker/registry/v2/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
        #expect(url.hasPrefix(expectedBase + "?Expires=1767290600&Signature="))
        let verifier = try CloudFrontVerifier(publicKeys: ["K2JCJMDEHXQW5F": Keys.main.publicPEM])
        #expect(try verifier.verify(url: url, clientIP: nil, now: now).resource == expectedBase)
        // The storage path form and a root-directory prefix.
        let prefixed = BlobRedirector(signer: redirector.signer, baseURL: "cdn.example", pathPrefix: "/registry/")
        let prefixedURL = try prefixed.redirectURL(storagePath: "/docker/registry/v2/blobs/x", clientIP: nil, now: now)
        #expect(prefixedURL.hasPrefix("https://cdn.example/registry/docker/registry/v2/blobs/x?Expires="))
    }

    @Test("a reuse window hands out the same URL per blob (and pinned client) until it passes")
    func reusesSignedURLs() throws {
        let signer = try CloudFrontSigner(privateKeyPEM: Keys.main.pkcs1PrivatePEM, keyPairID: "K1")
        let redirector = BlobRedirector(signer: signer, baseURL: "https://cdn.example", reuseWindow: .seconds(30))
        let start = Date(timeIntervalSince1970: 1_767_290_000)
        let first = try redirector.redirectURL(storagePath: "a/data", clientIP: nil, now: start)
        #expect(try redirector.redirectURL(storagePath: "a/data", clientIP: nil, now: start.addingTimeInterval(29)) == first)
        #expect(try redirector.redirectURL(storagePath: "b/data", clientIP: nil, now: start) != first)
        #expect(try redirector.redirectURL(storagePath: "a/data", clientIP: nil, now: start.addingTimeInterval(30)) != first)

        let pinned = BlobRedirector(signer: signer, baseURL: "https://cdn.example", policy: .custom, clientIPCondition: true,
                                    reuseWindow: .seconds(30))
        let forOne = try pinned.redirectURL(storagePath: "a/data", clientIP: "192.0.2.1", now: start)
        #expect(try pinned.redirectURL(storagePath: "a/data", clientIP: "192.0.2.1", now: start) == forOne)
        #expect(try pinned.redirectURL(storagePath: "a/data", clientIP: "192.0.2.2", now: start) != forOne)

        let cache = SignedURLCache(window: .seconds(30), capacity: 2)
        for name in ["a", "b", "c"] { _ = try cache.url(for: name, now: start) { () throws(CDNError) in name } }
        #expect(cache.count <= 2)
    }

    @Test("blob paths map back to digests; anything else is refused")
    func blobPathsMapToDigests() throws {
        let digest = Digest.sha256(of: Array("hello".utf8))
        let path = BlobRedirector.blobStoragePath(digest)
        #expect(BlobRedirector.digest(fromStoragePath: path) == digest)
        #expect(BlobRedirector.digest(fromStoragePath: "/" + path) == digest)
        #expect(BlobRedirector.digest(fromStoragePath: "/registry/" + path, pathPrefix: "/registry/") == digest)
        let hex = digest.encoded
        for bad in ["/docker/registry/v2/blobs/sha256/zz/\(hex)/data", "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/link",
                    "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/../data", "/docker/registry/v2/repositories/a/_layers",
                    "/docker/registry/v2/blobs/md5/\(hex.prefix(2))/\(hex)/data", "/registry/" + path] {
            #expect(BlobRedirector.digest(fromStoragePath: bad) == nil, "\(bad)")
        }
        let grant = CloudFrontVerifier.Grant(keyPairID: "K1", resource: "https://cdn.example/" + path + "?ns=x", expires: 1, isCanned: true)
        #expect(grant.path == "/" + path)
    }

    @Test("clientipcondition pins a custom policy to the client; notbefore sets DateGreaterThan")
    func redirectsPinnedToClient() throws {
        let configuration = try Self.parse(["clientipcondition": "true", "notbefore": "-1m", "hashalgorithm": "sha256"])
        let redirector = try BlobRedirector(configuration: configuration, privateKeyPEM: Keys.main.pkcs8PrivatePEM)
        let now = Date(timeIntervalSince1970: 1_767_290_000)
        let digest = Digest.sha256(of: Array("layer".utf8))
        let url = try redirector.redirectURL(for: digest, clientIP: "2001:db8::42", now: now)
        let parts = SignedParts(url)
        #expect(parts.names == ["Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"])
        let policy = String(decoding: try #require(CloudFrontBase64.decode(parts["Policy"]!)), as: UTF8.self)
        #expect(policy == #"{"Statement":[{"Resource":"\#(parts.base)","Condition":{"DateLessThan":{"AWS:EpochTime":1767291200},"#
            + #""DateGreaterThan":{"AWS:EpochTime":1767289940},"IpAddress":{"AWS:SourceIp":"2001:db8::42/128"}}}]}"#)
        let verifier = try CloudFrontVerifier(publicKeys: ["K2JCJMDEHXQW5F": Keys.main.publicPEM])
        _ = try verifier.verify(url: url, clientIP: "2001:db8::42", now: now)
        #expect { try verifier.verify(url: url, clientIP: "2001:db8::43", now: now) } throws: { ($0 as? CDNError)?.code == .ipNotAllowed }
        #expect { try redirector.redirectURL(for: digest, clientIP: nil, now: now) } throws: { ($0 as? CDNError)?.code == .malformed }
    }

    @Test("the private key is read from the configured path; an unreadable path is named")
    func readsKeyFile() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("cf.pem", Data(Keys.main.pkcs1PrivatePEM.utf8))
        let configuration = try CloudFrontConfiguration.parse(Self.required.merging(["privatekey": file]) { $1 })
        #expect(try BlobRedirector(configuration: configuration).signer.keySizeInBits == 2048)
        do throws(CDNError) {
            _ = try BlobRedirector(configuration: Self.parse([:]))
            Issue.record("no error for a missing key file")
        } catch {
            #expect(error.code == .invalidKey)
            #expect(error.message.contains("/etc/wharf/cf.pem"))
        }
    }

    @Test("edge configuration: keys and origin; errors name the key")
    func edgeConfiguration() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("pub.pem", Data(Keys.main.publicPEM.utf8))
        let edge = try CDNEdgeConfiguration.parse(
            options: ["origin": "http://127.0.0.1:5000", "clockskew": "30s"],
            keys: [["keypairid": "K1", "publickey": file], ["KeyPairId": "K2", "publickey": Keys.other.publicPEM]])
        #expect(edge.keys.map(\.keyPairID) == ["K1", "K2"])
        #expect(edge.clockSkew == .seconds(30))
        let verifier = try CloudFrontVerifier(configuration: edge)
        #expect(verifier.keyPairIDs == ["K1", "K2"])

        let cases: [([String: String], [[String: String]], String)] = [
            ([:], [["keypairid": "K1", "publickey": "x"]], "cdn.edge.origin: required"),
            (["origin": "ftp://x"], [["keypairid": "K1", "publickey": "x"]], "cdn.edge.origin:"),
            (["origin": "http://x"], [], "cdn.edge.keys: required"),
            (["origin": "http://x"], [["publickey": "x"]], "cdn.edge.keys[0].keypairid: required"),
            (["origin": "http://x"], [["keypairid": "K1"]], "cdn.edge.keys[0].publickey: required"),
            (["origin": "http://x"], [["keypairid": "K1", "publickey": "x"], ["keypairid": "K1", "publickey": "y"]],
             "cdn.edge.keys[1].keypairid:"),
            (["origin": "http://x", "clockskew": "-1s"], [["keypairid": "K1", "publickey": "x"]], "cdn.edge.clockskew:"),
            (["origin": "http://x", "color": "red"], [["keypairid": "K1", "publickey": "x"]], "cdn.edge.color: unknown key"),
        ]
        for (options, keys, expected) in cases {
            do throws(CDNError) {
                _ = try CDNEdgeConfiguration.parse(options: options, keys: keys)
                Issue.record("no error for \(options) \(keys)")
            } catch {
                #expect(error.message.hasPrefix(expected), "\(error.message)")
            }
        }
        let missingFile = CDNEdgeConfiguration(keys: [.init(keyPairID: "K1", publicKey: "/nonexistent.pem")], origin: "http://x")
        #expect { try CloudFrontVerifier(configuration: missingFile) } throws: {
            ($0 as? CDNError)?.message.hasPrefix("cdn.edge.keys[0].publickey:") == true
        }
    }

    @Test("Go durations", arguments: [("20m", 1200.0), ("1h30m", 5400), ("-30s", -30), ("1.5s", 1.5), ("500ms", 0.5), ("0", 0)])
    func goDurations(text: String, seconds: Double) {
        #expect(GoDuration.parse(text)?.timeInterval == seconds)
    }
}
