import Crypto
import _CryptoExtras

/// The hash CloudFront signs with. SHA-1 unless the URL says `Hash-Algorithm=SHA256`.
public enum CloudFrontHashAlgorithm: String, Sendable, CaseIterable {
    case sha1
    case sha256

    /// Parses `sha1`/`sha256` in any case (as config and the command line spell it).
    public init?(name: some StringProtocol) {
        switch name.lowercased() {
        case "sha1", "sha-1": self = .sha1
        case "sha256", "sha-256": self = .sha256
        default: return nil
        }
    }

    /// The value of the `Hash-Algorithm` URL parameter; `nil` for SHA-1, which is the default
    /// and is never written (Distribution's signer omits it too).
    var urlParameterValue: String? { self == .sha256 ? "SHA256" : nil }
}

/// PEM loading for RSA keys, with the small-key fallback in one place.
enum RSAKeys {
    static let minimumSafeBits = 2048

    /// A private key from PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`) PEM.
    /// Keys of 1024–2047 bits are accepted through the unsafe initialiser with a warning.
    static func privateKey(pem: String, name: String) throws(CDNError) -> (_RSA.Signing.PrivateKey, warning: String?) {
        if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) { return (key, nil) }
        if let key = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem) {
            return (key, smallKeyWarning(name, bits: key.keySizeInBits))
        }
        throw CDNError(.invalidKey, "\(name) is not an unencrypted RSA private key in PEM form of at least 1024 bits "
            + "(expected \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1) or \"-----BEGIN PRIVATE KEY-----\" (PKCS#8))")
    }

    /// A public key from SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`) PEM.
    static func publicKey(pem: String, name: String) throws(CDNError) -> (_RSA.Signing.PublicKey, warning: String?) {
        if let key = try? _RSA.Signing.PublicKey(pemRepresentation: pem) { return (key, nil) }
        if let key = try? _RSA.Signing.PublicKey(unsafePEMRepresentation: pem) {
            return (key, smallKeyWarning(name, bits: key.keySizeInBits))
        }
        throw CDNError(.invalidKey, "\(name) is not an RSA public key in PEM form of at least 1024 bits "
            + "(expected \"-----BEGIN PUBLIC KEY-----\" or \"-----BEGIN RSA PUBLIC KEY-----\"; "
            + "make one with `openssl rsa -in private.pem -pubout`)")
    }

    private static func smallKeyWarning(_ name: String, bits: Int) -> String {
        "\(name) is a \(bits)-bit RSA key; CloudFront and AWS guidance expect 2048 bits — accepted, but replace it"
    }
}
