import Foundation
import Testing
@testable import CDN

@Suite("CloudFront formats")
struct CloudFrontFormatTests {
    @Test("URL-safe base64 substitutes + = / and round-trips")
    func base64RoundTrip() throws {
        // 0xFB 0xFF 0xBF encodes to "+/+/" in standard base64; one byte more needs padding.
        #expect(CloudFrontBase64.encode([0xFB, 0xFF, 0xBF]) == "-~-~")
        #expect(CloudFrontBase64.encode([0xFB, 0xFF, 0xBF, 0x00]) == "-~-~AA__")
        #expect(CloudFrontBase64.decode("-~-~AA__") == [0xFB, 0xFF, 0xBF, 0x00])
        #expect(CloudFrontBase64.decode("+/+/AA==") == [0xFB, 0xFF, 0xBF, 0x00])
        #expect(CloudFrontBase64.decode("-~-~AA") == [0xFB, 0xFF, 0xBF, 0x00])
        #expect(CloudFrontBase64.decode("not base64!") == nil)
        var generator = SystemRandomNumberGenerator()
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = CloudFrontBase64.encode(bytes)
            #expect(!encoded.contains { "+=/".contains($0) })
            #expect(CloudFrontBase64.decode(encoded) == bytes)
        }
    }

    @Test("the canned policy is CloudFront's exact string")
    func cannedPolicyBytes() {
        let policy = CloudFrontPolicy.canned(resource: "https://d111111abcdef8.cloudfront.net/image.jpg?color=red&size=medium",
                                             expires: 1_357_034_400)
        #expect(policy.json == #"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg?color=red&size=medium","#
            + #""Condition":{"DateLessThan":{"AWS:EpochTime":1357034400}}}]}"#)
        #expect(policy.isCanned)
    }

    @Test("custom policy: template key order, optional parts omitted, strings escaped")
    func customPolicyBytes() {
        let full = CloudFrontPolicy(resource: "http*://d111111abcdef8.cloudfront.net/*", expires: 2, notBefore: 1,
                                    sourceIP: IPAddressRange("2001:0db8:0000::/32"))
        #expect(full.json == #"{"Statement":[{"Resource":"http*://d111111abcdef8.cloudfront.net/*","Condition":{"#
            + #""DateLessThan":{"AWS:EpochTime":2},"DateGreaterThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":"2001:db8::/32"}}}]}"#)
        #expect(!full.isCanned)
        let noResource = CloudFrontPolicy(resource: nil, expires: 5)
        #expect(noResource.json == #"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#)
        let quoted = CloudFrontPolicy(resource: "https://h/a\"b\\c", expires: 5)
        #expect(quoted.json.contains(#""Resource":"https://h/a\"b\\c""#))
    }

    @Test("custom policy JSON parses back, whatever its key order and spacing")
    func parsesCustomPolicy() throws {
        // The order and spacing of AWS's published example (IpAddress first).
        let json = """
            {"Statement": [{ "Resource":"http://d111111abcdef8.cloudfront.net/game_download.zip",
              "Condition":{ "IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},
                "DateGreaterThan":{"AWS:EpochTime":1357000000}, "DateLessThan":{"AWS:EpochTime":1357034400} } }] }
            """
        let policy = try CloudFrontPolicy(jsonBytes: Array(json.utf8))
        #expect(policy == CloudFrontPolicy(resource: "http://d111111abcdef8.cloudfront.net/game_download.zip", expires: 1_357_034_400,
                                           notBefore: 1_357_000_000, sourceIP: IPAddressRange("192.0.2.0/24")))
        #expect(try CloudFrontPolicy(jsonBytes: policy.jsonBytes) == policy)
    }

    @Test("CIDR ranges, IPv4 and IPv6", arguments: [
        ("192.0.2.0/24", "192.0.2.255", true),
        ("192.0.2.0/24", "192.0.3.0", false),
        ("192.0.2.7", "192.0.2.7", true),
        ("192.0.2.7/32", "192.0.2.8", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("10.0.0.0/9", "10.127.255.255", true),
        ("10.0.0.0/9", "10.128.0.0", false),
        ("192.0.2.0/24", "::ffff:192.0.2.1", true),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("2001:db8::1/128", "2001:db8::1", true),
        ("2001:db8::/33", "2001:db8:8000::", false),
        ("fe80::/10", "fe80::1%eth0", true),
        ("192.0.2.0/24", "2001:db8::1", false),
        ("192.0.2.0/24", "not an address", false),
    ])
    func cidrMatching(range: String, client: String, expected: Bool) throws {
        let parsed = try #require(IPAddressRange(range))
        #expect(parsed.contains(client) == expected)
    }

    @Test("bad ranges are refused", arguments: ["192.0.2.0/33", "2001:db8::/129", "192.0.2/24", "300.0.0.1", "x", "192.0.2.0/", "1.2.3.4/-1"])
    func badRanges(text: String) {
        #expect(IPAddressRange(text) == nil)
    }

    @Test("ranges render as address/prefix", arguments: [("192.0.2.7", "192.0.2.7/32"), ("2001:0db8::0001", "2001:db8::1/128"),
                                                        ("10.0.0.0/8", "10.0.0.0/8")])
    func rendering(text: String, expected: String) {
        #expect(IPAddressRange(text)?.description == expected)
    }

    @Test("Resource wildcards: * is zero or more characters, ? exactly one", arguments: [
        ("https://h/*", "https://h/a/b/c?x=1", true),
        ("*", "anything", true),
        ("https://h/*game_download.zip*", "https://h/game_download.zip", true),
        ("https://h/*game_download.zip*", "https://h/example_game_download.zip?license=yes", true),
        ("https://h/*game_download.zip*", "https://h/game.zip", false),
        ("http*://h/a", "https://h/a", true),
        ("https://h/?", "https://h/a", true),
        ("https://h/?", "https://h/ab", false),
        ("https://h/a", "https://h/a/b", false),
        ("https://h/*/data", "https://h/x/y/data", true),
        ("https://h/*/data", "https://h/x/y/data2", false),
    ])
    func wildcards(pattern: String, text: String, expected: Bool) {
        #expect(ResourcePattern.matches(pattern, text) == expected)
    }

    @Test("request text in messages is quoted, escaped and bounded")
    func quotedRequestText() {
        #expect(CDNError.quoted("K1") == #""K1""#)
        #expect(CDNError.quoted("a\n\"b\u{7}é") == #""a\u{a}\u{22}b\u{7}\u{e9}""#)
        #expect(CDNError.quoted(String(repeating: "x", count: 300)).count == 256 + 3)
    }

    @Test("request URLs split into resource and signing parameters")
    func splitsSignedURL() throws {
        let parts = try SignedURL("https://h/x?a=1&Expires=5&b=2&Signature=c2ln&Key-Pair-Id=K%31&Hash-Algorithm=SHA256#frag")
        #expect(parts.resource == "https://h/x?a=1&b=2")
        #expect(parts.expires == "5")
        #expect(parts.signature == "c2ln")
        #expect(parts.keyPairID == "K1")
        #expect(parts.hashAlgorithm == "SHA256")
        #expect(try SignedURL("https://h/x?Expires=5").resource == "https://h/x")
        #expect(try SignedURL("https://h/x?a=1&&Expires=5").resource == "https://h/x?a=1&")
    }
}
