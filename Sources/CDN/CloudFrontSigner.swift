import Crypto
import Foundation
import _CryptoExtras

/// Signs URLs the way CloudFront expects: RSA PKCS#1 v1.5 over SHA-1 (or SHA-256) of the
/// policy JSON, URL-safe base64, parameters appended after the URL's own query.
///
/// Build one at start-up: the PEM is parsed once here, so `sign` costs one hash and one RSA
/// private-key operation (about 1300 per second per core for a 2048-bit key). The value is
/// immutable and `Sendable`; share it between event loops.
public struct CloudFrontSigner: Sendable {
    /// The CloudFront public key ID (`K…`) or legacy key pair ID (`APKA…`) sent as `Key-Pair-Id`.
    public let keyPairID: String
    public let hashAlgorithm: CloudFrontHashAlgorithm
    /// How long a URL signed with `sign(url:now:)` stays valid.
    public let duration: Duration
    public let keySizeInBits: Int
    /// Things an operator should know (a key under 2048 bits); log them once at start-up.
    public let warnings: [String]
    private let privateKey: _RSA.Signing.PrivateKey

    /// The public half of the signing key (SPKI PEM), so the signer's own URLs can be verified.
    public var publicKeyPEM: String { privateKey.publicKey.pemRepresentation }

    /// - Parameters:
    ///   - privateKeyPEM: the RSA private key, PKCS#1 or PKCS#8 PEM text (not a path).
    ///   - duration: default lifetime of a signed URL; Distribution's default is 20 minutes.
    public init(privateKeyPEM: String, keyPairID: String, hashAlgorithm: CloudFrontHashAlgorithm = .sha1,
                duration: Duration = .seconds(20 * 60)) throws(CDNError) {
        guard Self.isValidKeyPairID(keyPairID) else {
            throw CDNError(.invalidConfiguration, "key pair id \"\(keyPairID)\" must be non-empty letters, digits, - or _")
        }
        let (key, warning) = try RSAKeys.privateKey(pem: privateKeyPEM, name: "the private key for \(keyPairID)")
        self.privateKey = key
        self.keyPairID = keyPairID
        self.hashAlgorithm = hashAlgorithm
        self.duration = duration
        self.keySizeInBits = key.keySizeInBits
        self.warnings = warning.map { [$0] } ?? []
    }

    /// A canned-policy URL valid for `duration` from `now`.
    public func sign(url: String, now: Date = Date()) throws(CDNError) -> String {
        try sign(url: url, expires: now.addingTimeInterval(duration.timeInterval))
    }

    /// A canned-policy URL: `url[?|&]Expires=…&Signature=…&Key-Pair-Id=…[&Hash-Algorithm=SHA256]`.
    public func sign(url: String, expires: Date) throws(CDNError) -> String {
        let resource = try Self.checkedResource(url)
        let epoch = Int64(expires.timeIntervalSince1970.rounded(.down))
        let signature = try signature(for: CloudFrontPolicy.canned(resource: resource, expires: epoch).jsonBytes)
        return assemble(resource, first: "Expires=\(epoch)", signature: signature)
    }

    /// A custom-policy URL: `url[?|&]Policy=…&Signature=…&Key-Pair-Id=…[&Hash-Algorithm=SHA256]`.
    /// The policy's resource may differ from `url` (a wildcard pattern, or none).
    public func sign(url: String, policy: CloudFrontPolicy) throws(CDNError) -> String {
        let base = try Self.checkedResource(url)
        let bytes = policy.jsonBytes
        let signature = try signature(for: bytes)
        return assemble(base, first: "Policy=\(CloudFrontBase64.encode(bytes))", signature: signature)
    }

    /// The raw RSA signature over `policyBytes` with this signer's hash.
    public func signature(for policyBytes: [UInt8]) throws(CDNError) -> [UInt8] {
        do {
            let signature: _RSA.Signing.RSASignature
            switch hashAlgorithm {
            case .sha1:
                signature = try privateKey.signature(for: Insecure.SHA1.hash(data: policyBytes), padding: .insecurePKCS1v1_5)
            case .sha256:
                signature = try privateKey.signature(for: SHA256.hash(data: policyBytes), padding: .insecurePKCS1v1_5)
            }
            return Array(signature.rawRepresentation)
        } catch {
            throw CDNError(.invalidKey, "RSA signing failed with the key for \(keyPairID): \(error)")
        }
    }

    private func assemble(_ resource: String, first: String, signature: [UInt8]) -> String {
        var url = resource
        url += resource.contains("?") ? "&" : "?"
        url += first
        url += "&Signature=" + CloudFrontBase64.encode(signature)
        url += "&Key-Pair-Id=" + keyPairID
        if let value = hashAlgorithm.urlParameterValue { url += "&Hash-Algorithm=" + value }
        return url
    }

    /// The URL as the policy's resource: a trailing `?` dropped (AWS: "if you have no query
    /// string parameters, omit the question mark"); refused when it has a fragment or
    /// already carries a signing parameter.
    static func checkedResource(_ url: String) throws(CDNError) -> String {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw CDNError(.malformed, "\"\(url)\" is not an http:// or https:// URL")
        }
        guard !url.contains("#"), !url.contains(where: { $0 == " " || $0.isNewline }) else {
            throw CDNError(.malformed, "\"\(url)\" contains a fragment or white space; percent-encode it first")
        }
        var resource = url
        if resource.hasSuffix("?") { resource.removeLast() }
        if let query = resource.split(separator: "?", maxSplits: 1).dropFirst().first {
            for item in query.split(separator: "&") {
                let name = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if SignedURL.signingParameterNames.contains(String(name)) {
                    throw CDNError(.malformed, "\"\(url)\" already has a \(name) parameter; CloudFront reserves that name")
                }
            }
        }
        return resource
    }

    static func isValidKeyPairID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_"
        }
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }
}
