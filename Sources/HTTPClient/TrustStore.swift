import Foundation
import Synchronization

/// Which CAs a request to one host trusts: the system bundle, plus Docker-style
/// `<certsDirectory>/<host[:port]>/*.crt` files (`ca.crt` among them) when that directory exists.
public struct TrustInfo: Sendable, Equatable {
    /// The directory searched for this host (whether or not it exists); nil without a certs directory.
    public var searchedDirectory: String?
    /// The `*.crt` files found there and added to the system bundle.
    public var caFiles: [String]
    /// The system bundle the extra CAs were added to.
    public var systemBundle: String?
}

/// A combined PEM bundle handed to libcurl as CURLOPT_CAINFO_BLOB (which replaces CURLOPT_CAINFO,
/// hence the system bundle is copied in too).
struct TrustBundle: Sendable {
    var pem: [UInt8]
}

/// Finds and caches per-host CA bundles. Read once per host for the client's lifetime.
final class TrustStore: Sendable {
    let certsDirectory: String?
    let systemBundlePath: String?
    private let cache = Mutex<[String: TrustBundle?]>([:])

    static let systemBundleCandidates = [
        "/etc/ssl/certs/ca-certificates.crt",      // Debian, Ubuntu, Alpine
        "/etc/pki/tls/certs/ca-bundle.crt",         // Fedora, RHEL
        "/etc/ssl/ca-bundle.pem",                   // openSUSE
        "/etc/ssl/cert.pem",
    ]

    init(certsDirectory: String?) {
        self.certsDirectory = certsDirectory
        self.systemBundlePath = Self.systemBundleCandidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The directories searched for `authority` (`host` or `host:port`), most specific first.
    func directories(forAuthority authority: String) -> [String] {
        guard let certsDirectory else { return [] }
        return [(certsDirectory as NSString).appendingPathComponent(authority)]
    }

    func info(forAuthority authority: String) -> TrustInfo {
        let dirs = directories(forAuthority: authority)
        return TrustInfo(searchedDirectory: dirs.first, caFiles: dirs.flatMap(Self.caFiles(in:)), systemBundle: systemBundlePath)
    }

    /// The bundle for `authority`, or nil when the system bundle alone applies.
    func bundle(forAuthority authority: String) -> TrustBundle? {
        if let cached = cache.withLock({ $0[authority] }) { return cached }
        let files = directories(forAuthority: authority).flatMap(Self.caFiles(in:))
        var bundle: TrustBundle? = nil
        if !files.isEmpty {
            var pem: [UInt8] = []
            if let systemBundlePath, let data = FileManager.default.contents(atPath: systemBundlePath) {
                pem.append(contentsOf: data)
                pem.append(0x0a)
            }
            for file in files {
                if let data = FileManager.default.contents(atPath: file) {
                    pem.append(contentsOf: data)
                    pem.append(0x0a)
                }
            }
            bundle = TrustBundle(pem: pem)
        }
        cache.withLock { $0[authority] = .some(bundle) }
        return bundle
    }

    /// `*.crt` files in `directory`, sorted (Docker's rule: `.crt` files are CAs; `.cert`/`.key` are client pairs).
    static func caFiles(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".crt") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
    }
}
