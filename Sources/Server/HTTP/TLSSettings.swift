#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOSSL

/// The server's certificate, loaded from PEM files and reloadable (SIGHUP) without a restart:
/// new connections use the new context, open ones keep theirs.
public final class TLSSettings: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let context: NIOLockedValueBox<NIOSSLContext>

    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.context = NIOLockedValueBox(try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// Reads the files again; on failure the current certificate stays in use.
    public func reload() throws {
        let fresh = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
        context.withLockedValue { $0 = fresh }
    }

    var current: NIOSSLContext { context.withLockedValue { $0 } }

    /// Modification times of the certificate and key, to notice a renewal on disk.
    public func fileStamp() -> [Double] {
        [certificatePath, keyPath].map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return -1 }
            return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        }
    }

    private static func makeContext(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}
