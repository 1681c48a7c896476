import ArgumentParser
import CDN
import Foundation

/// `wharf sign-url`: prints a CloudFront-style signed URL, as Wharf's redirects make them.
/// Canned policy unless `--client-ip` or `--not-before` asks for a custom one.
struct SignURLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-url",
        abstract: "Sign a URL the way CloudFront expects (canned policy, or custom with --client-ip/--not-before).",
        discussion: """
            Prints the signed URL on standard output. The key is an unencrypted RSA private key in \
            PEM form (PKCS#1 or PKCS#8). Example:
              wharf sign-url --private-key cf.pem --key-pair-id K2JCJMDEHXQW5F https://cdn.example/a/data
            """
    )

    @Option(name: .customLong("private-key"), help: "Path to the RSA private key PEM file.")
    var privateKey: String

    @Option(name: .customLong("key-pair-id"), help: "The CloudFront public key ID (or legacy key pair ID).")
    var keyPairID: String

    @Option(name: .customLong("expires-in"), help: "Seconds until the URL expires.")
    var expiresIn: Int = 20 * 60

    @Option(name: .customLong("hash-algorithm"), help: "sha1 (CloudFront's default) or sha256 (adds Hash-Algorithm=SHA256).")
    var hashAlgorithm: String = "sha1"

    @Option(name: .customLong("client-ip"), help: "Allow only this address or CIDR range (custom policy).")
    var clientIP: String?

    @Option(name: .customLong("not-before"), help: "Seconds from now before which the URL is refused; may be negative, e.g. --not-before=-30 (custom policy).")
    var notBefore: Int?

    @Argument(help: "The http:// or https:// URL to sign, with any query parameters of your own.")
    var url: String

    func validate() throws {
        guard expiresIn > 0 else { throw ValidationError("--expires-in must be a positive number of seconds") }
        guard CloudFrontHashAlgorithm(name: hashAlgorithm) != nil else {
            throw ValidationError("--hash-algorithm must be sha1 or sha256, not \"\(hashAlgorithm)\"")
        }
        if let clientIP, IPAddressRange(clientIP) == nil {
            throw ValidationError("--client-ip \"\(clientIP)\" is not an IP address or CIDR range")
        }
    }

    func run() throws {
        let pem: String
        do {
            pem = try String(contentsOfFile: privateKey, encoding: .utf8)
        } catch {
            throw Failure(message: "--private-key \(privateKey) cannot be read: \(error.localizedDescription)")
        }
        do throws(CDNError) {
            print(try signedURL(privateKeyPEM: pem, now: Date()))
        } catch {
            throw Failure(message: error.message)
        }
    }

    /// A failure after the arguments were accepted: printed without the usage text, exit status 1.
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The signed URL; warnings about the key go to standard error.
    func signedURL(privateKeyPEM pem: String, now: Date) throws(CDNError) -> String {
        let expires = now.addingTimeInterval(TimeInterval(expiresIn))
        let signer = try CloudFrontSigner(
            privateKeyPEM: pem, keyPairID: keyPairID,
            hashAlgorithm: CloudFrontHashAlgorithm(name: hashAlgorithm) ?? .sha1,
            duration: .seconds(expiresIn))
        for warning in signer.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if clientIP == nil && notBefore == nil {
            return try signer.sign(url: url, expires: expires)
        }
        var policy = CloudFrontPolicy(resource: url, expires: Int64(expires.timeIntervalSince1970.rounded(.down)))
        if let notBefore {
            policy.notBefore = Int64(now.addingTimeInterval(TimeInterval(notBefore)).timeIntervalSince1970.rounded(.down))
        }
        if let clientIP { policy.sourceIP = IPAddressRange(clientIP) }
        if policy.resource?.hasSuffix("?") == true { policy.resource?.removeLast() }
        return try signer.sign(url: url, policy: policy)
    }
}
