import Crypto
import Foundation
import _CryptoExtras

/// Checks CloudFront-style signed URLs as CloudFront's edge does: Wharf's edge mode.
///
/// Order of checks: the signing parameters are readable (`malformed`), `Key-Pair-Id` is
/// trusted (`unknownKey`), the signature matches the policy (`badSignature`: a changed path,
/// `Expires` or signature character lands here for canned URLs), then the policy's
/// conditions: `expired`, `notYetValid`, `resourceMismatch`, `ipNotAllowed`.
public struct CloudFrontVerifier: Sendable {
    /// What a valid URL granted.
    public struct Grant: Sendable, Equatable {
        public var keyPairID: String
        /// The request URL without the signing parameters (what a canned policy signed).
        public var resource: String
        /// Unix seconds after which the URL is refused.
        public var expires: Int64
        public var isCanned: Bool

        /// The resource's path, without scheme, host or query (`/docker/registry/v2/blobs/…/data`).
        public var path: String {
            var rest = Substring(resource)
            if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
            guard let slash = rest.firstIndex(of: "/") else { return "/" }
            rest = rest[slash...]
            if let question = rest.firstIndex(of: "?") { rest = rest[..<question] }
            return String(rest)
        }
    }

    private let keys: [String: _RSA.Signing.PublicKey]
    /// Tolerance for clocks that disagree between the signer and this edge.
    public let allowedClockSkew: Duration
    /// Things an operator should know (small keys); log them once at start-up.
    public let warnings: [String]

    /// - Parameter publicKeys: PEM text (SPKI or PKCS#1 RSA public key) per key-pair id.
    public init(publicKeys: [String: String], allowedClockSkew: Duration = .zero) throws(CDNError) {
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        var warnings: [String] = []
        for (id, pem) in publicKeys.sorted(by: { $0.key < $1.key }) {
            guard CloudFrontSigner.isValidKeyPairID(id) else {
                throw CDNError(.invalidConfiguration, "key pair id \"\(id)\" must be non-empty letters, digits, - or _")
            }
            let (key, warning) = try RSAKeys.publicKey(pem: pem, name: "the public key for \(id)")
            keys[id] = key
            if let warning { warnings.append(warning) }
        }
        self.keys = keys
        self.allowedClockSkew = allowedClockSkew
        self.warnings = warnings
    }

    /// The key-pair ids this verifier trusts.
    public var keyPairIDs: [String] { keys.keys.sorted() }

    /// Verifies a request given as path and query (`/docker/…/data?Expires=…`) on the edge
    /// reached as `scheme://host` (`host` may carry a port, as the Host header does).
    public func verify(requestTarget: String, scheme: String, host: String, clientIP: String?,
                       now: Date = Date()) throws(CDNError) -> Grant {
        let target = requestTarget.hasPrefix("/") ? requestTarget : "/" + requestTarget
        return try verify(url: "\(scheme)://\(host)\(target)", clientIP: clientIP, now: now)
    }

    /// Verifies a full request URL (`https://edge.example/docker/…/data?Expires=…&…`).
    ///
    /// - Parameter clientIP: the client's address as the socket reports it; required only
    ///   when the policy has an `IpAddress` condition.
    public func verify(url: String, clientIP: String?, now: Date = Date()) throws(CDNError) -> Grant {
        let parts = try SignedURL(url)
        guard let signatureText = parts.signature, let keyPairID = parts.keyPairID else {
            throw CDNError(.malformed, "the URL is not signed: it needs Signature and Key-Pair-Id parameters "
                + "(and Expires or Policy); ask the registry for a fresh redirect")
        }
        let hash: CloudFrontHashAlgorithm
        switch parts.hashAlgorithm {
        case nil, "SHA1": hash = .sha1
        case "SHA256": hash = .sha256
        case let other?: throw CDNError(.malformed, "Hash-Algorithm \(CDNError.quoted(other)) is not supported (use SHA256, or omit it for SHA1)")
        }
        guard let key = keys[keyPairID] else {
            throw CDNError(.unknownKey, "Key-Pair-Id \(CDNError.quoted(keyPairID)) is not a key this edge trusts; "
                + "add its public key under cdn.edge.keys or sign with a trusted key")
        }
        guard let signature = CloudFrontBase64.decode(signatureText), !signature.isEmpty else {
            throw CDNError(.malformed, "the Signature parameter is not CloudFront base64")
        }

        let policy: CloudFrontPolicy
        let signedBytes: [UInt8]
        switch (parts.expires, parts.policy) {
        case (let expiresText?, nil):
            guard !expiresText.isEmpty, expiresText.utf8.count <= 15, expiresText.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let expires = Int64(expiresText) else {
                throw CDNError(.malformed, "Expires \(CDNError.quoted(expiresText)) is not Unix seconds")
            }
            policy = .canned(resource: parts.resource, expires: expires)
            signedBytes = policy.jsonBytes
        case (nil, let policyText?):
            guard let bytes = CloudFrontBase64.decode(policyText) else {
                throw CDNError(.malformed, "the Policy parameter is not CloudFront base64")
            }
            signedBytes = bytes
            policy = try CloudFrontPolicy(jsonBytes: bytes)
        case (nil, nil):
            throw CDNError(.malformed, "the URL has neither Expires (canned policy) nor Policy (custom policy)")
        case (_?, _?):
            throw CDNError(.malformed, "the URL has both Expires and Policy; a signed URL carries one of them")
        }

        let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
        let valid: Bool
        switch hash {
        case .sha1: valid = key.isValidSignature(rsaSignature, for: Insecure.SHA1.hash(data: signedBytes), padding: .insecurePKCS1v1_5)
        case .sha256: valid = key.isValidSignature(rsaSignature, for: SHA256.hash(data: signedBytes), padding: .insecurePKCS1v1_5)
        }
        guard valid else {
            throw CDNError(.badSignature, "the signature does not match this URL (it was changed after signing, "
                + "or signed with another key or hash); ask the registry for a fresh redirect")
        }

        let skew = allowedClockSkew.timeInterval
        let time = now.timeIntervalSince1970
        guard time - skew < TimeInterval(policy.expires) else {
            throw CDNError(.expired, "the signed URL expired at \(Self.format(policy.expires)); ask the registry for a fresh redirect")
        }
        if let notBefore = policy.notBefore, time + skew < TimeInterval(notBefore) {
            throw CDNError(.notYetValid, "the signed URL is not valid before \(Self.format(notBefore)); "
                + "retry then, or check this edge's clock")
        }
        if parts.policy != nil, let pattern = policy.resource,
           !ResourcePattern.matches(pattern, parts.resource) {
            throw CDNError(.resourceMismatch, "this URL was signed for \(CDNError.quoted(pattern)), not for \(CDNError.quoted(parts.resource))")
        }
        if let range = policy.sourceIP {
            guard let clientIP, range.contains(clientIP) else {
                throw CDNError(.ipNotAllowed, "the signed URL is valid only from \(range), and this request comes from "
                    + "\(clientIP.map(CDNError.quoted) ?? "an unknown address"); fetch it from that network or ask for a new URL")
            }
        }
        return Grant(keyPairID: keyPairID, resource: parts.resource, expires: policy.expires, isCanned: parts.policy == nil)
    }

    private static func format(_ epoch: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        return "\(formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))) (\(epoch))"
    }
}
