import Foundation

/// Runs the `openssl` command line: the independent implementation the tests check against.
enum OpenSSL {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `openssl arguments…` and returns standard output; throws on a non-zero exit.
    @discardableResult
    static func run(_ arguments: [String], input: Data? = nil) throws -> Data {
        let result = try runAllowingFailure(arguments, input: input)
        guard result.status == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    static func runAllowingFailure(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, out, String(decoding: err, as: UTF8.self))
    }

    /// `openssl dgst -<hash> -verify pub.pem -signature sig policy`; true when it prints "Verified OK".
    static func verify(policy: [UInt8], signature: [UInt8], publicKeyPEM: String, hash: String) throws -> Bool {
        let directory = try TemporaryDirectory()
        let policyFile = try directory.write("policy.json", Data(policy))
        let signatureFile = try directory.write("signature.bin", Data(signature))
        let keyFile = try directory.write("public.pem", Data(publicKeyPEM.utf8))
        let result = try runAllowingFailure(["dgst", "-\(hash)", "-verify", keyFile, "-signature", signatureFile, policyFile])
        return result.status == 0 && String(decoding: result.stdout, as: UTF8.self).contains("Verified OK")
    }

    /// `openssl dgst -<hash> -sign key.pem policy`: the raw PKCS#1 v1.5 signature.
    static func sign(policy: [UInt8], privateKeyPEM: String, hash: String) throws -> [UInt8] {
        let directory = try TemporaryDirectory()
        let policyFile = try directory.write("policy.json", Data(policy))
        let keyFile = try directory.write("private.pem", Data(privateKeyPEM.utf8))
        return Array(try run(["dgst", "-\(hash)", "-sign", keyFile, policyFile]))
    }
}

/// A key pair minted by `openssl genrsa`, in both private-key encodings.
struct TestKeyPair: Sendable {
    var pkcs1PrivatePEM: String
    var pkcs8PrivatePEM: String
    var publicPEM: String
    var bits: Int

    static func mint(bits: Int) throws -> TestKeyPair {
        let pkcs1 = String(decoding: try OpenSSL.run(["genrsa", "-traditional", String(bits)]), as: UTF8.self)
        let pkcs8 = String(decoding: try OpenSSL.run(["pkcs8", "-topk8", "-nocrypt"], input: Data(pkcs1.utf8)), as: UTF8.self)
        let publicKey = String(decoding: try OpenSSL.run(["rsa", "-pubout"], input: Data(pkcs1.utf8)), as: UTF8.self)
        return TestKeyPair(pkcs1PrivatePEM: pkcs1, pkcs8PrivatePEM: pkcs8, publicPEM: publicKey, bits: bits)
    }
}

/// Keys shared by all tests (minting costs a few hundred milliseconds each).
enum Keys {
    nonisolated(unsafe) private static var cache: [String: TestKeyPair] = [:]
    private static let lock = NSLock()

    static func named(_ name: String, bits: Int = 2048) throws -> TestKeyPair {
        lock.lock()
        defer { lock.unlock() }
        if let pair = cache[name] { return pair }
        let pair = try TestKeyPair.mint(bits: bits)
        cache[name] = pair
        return pair
    }

    static var main: TestKeyPair { get throws { try named("main") } }
    static var other: TestKeyPair { get throws { try named("other") } }
    static var small: TestKeyPair { get throws { try named("small", bits: 1024) } }
}

/// A directory removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "wharf-cdn-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ data: Data) throws -> String {
        let file = path + "/" + name
        try data.write(to: URL(fileURLWithPath: file))
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
