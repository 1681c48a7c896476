#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOSSL

/// The server's certificate, loaded from PEM files and reloadable (SIGHUP) without a restart:
/// new connections use the new context, open ones keep theirs. With `clientCAPaths`
/// (`http.tls.clientcas`) a client must present a certificate that chains to one of those CAs.
public final class TLSSettings: Sendable {
    /// `http.tls.minimumtls`, in Distribution's spelling. TLS 1.0 and 1.1 are not offered at all.
    public enum MinimumVersion: String, Sendable, CaseIterable {
        case tls12 = "tls1.2"
        case tls13 = "tls1.3"

        var nio: TLSVersion { self == .tls12 ? .tlsv12 : .tlsv13 }
    }

    /// `http.tls.clientauth`, in Distribution's spelling (Go's `tls.ClientAuthType`), when
    /// `clientcas` is set. Only the two modes that verify a presented certificate are offered.
    public enum ClientAuth: String, Sendable, CaseIterable {
        case requireAndVerify = "require-and-verify-client-cert"
        case verifyIfGiven = "verify-client-cert-if-given"
    }

    public let certificatePath: String
    public let keyPath: String
    public let clientCAPaths: [String]
    public let clientAuth: ClientAuth
    public let minimumVersion: MinimumVersion
    private let context: NIOLockedValueBox<NIOSSLContext>

    public init(certificatePath: String, keyPath: String, clientCAPaths: [String] = [], clientAuth: ClientAuth = .requireAndVerify,
                minimumVersion: MinimumVersion = .tls12) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPaths = clientCAPaths
        self.clientAuth = clientAuth
        self.minimumVersion = minimumVersion
        self.context = NIOLockedValueBox(try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath,
                                                              clientCAPaths: clientCAPaths, clientAuth: clientAuth,
                                                              minimumVersion: minimumVersion))
    }

    /// Reads the files again (the client CAs too); on failure the current context stays in use.
    public func reload() throws {
        let fresh = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath, clientCAPaths: clientCAPaths,
                                         clientAuth: clientAuth, minimumVersion: minimumVersion)
        context.withLockedValue { $0 = fresh }
    }

    var current: NIOSSLContext { context.withLockedValue { $0 } }

    /// Modification times of the certificate, key and client CA files, to notice a renewal on disk.
    public func fileStamp() -> [Double] {
        ([certificatePath, keyPath] + clientCAPaths).map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return -1 }
            return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        }
    }

    private static func makeContext(certificatePath: String, keyPath: String, clientCAPaths: [String], clientAuth: ClientAuth,
                                    minimumVersion: MinimumVersion) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = minimumVersion.nio
        if !clientCAPaths.isEmpty {
            var authorities: [NIOSSLCertificate] = []
            for path in clientCAPaths {
                let certificates = try NIOSSLCertificate.fromPEMFile(path)
                guard !certificates.isEmpty else { throw TLSSettingsError("http.tls.clientcas: \(path) holds no PEM certificate") }
                authorities += certificates
            }
            // Only these CAs, never the system's: a client is trusted for what this file says.
            configuration.trustRoots = .certificates(authorities)
            configuration.additionalTrustRoots = []
            // Clients connect by address or by any name: there is no host name to check.
            configuration.certificateVerification = clientAuth == .requireAndVerify ? .noHostnameVerification : .optionalVerification
            configuration.sendCANameList = true
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A TLS file that loads but cannot be used as configured.
public struct TLSSettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
