import Foundation

/// A Python fixture from Tests/IntegrationTests/upstream/ run as a child process: it prints one
/// JSON line describing what it started, and runs until its standard input closes.
public final class FixtureProcess: @unchecked Sendable {
    // @unchecked: the Process and pipes are only touched by `init` and `stop`, which a test calls in order.
    private let process = Process()
    private let stdin = Pipe()
    private let stdout = Pipe()
    /// The fixture's JSON line.
    public let info: [String: any Sendable]

    /// The directory holding the Python fixtures.
    public static let scriptsDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("IntegrationTests/upstream")

    /// Starts `script` (a file in `scriptsDirectory`) with `arguments`, and waits for its JSON line.
    public init(_ script: String, _ arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")  // Debian's python3-cryptography
        process.arguments = [Self.scriptsDirectory.appendingPathComponent(script).path] + arguments
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        var line = Data()
        let handle = stdout.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            process.terminate()
            throw FixtureError(message: "\(script) printed no JSON: \(String(decoding: line, as: UTF8.self))")
        }
        var info: [String: any Sendable] = [:]
        for (k, v) in object {
            if let s = v as? String { info[k] = s } else if let n = v as? Int { info[k] = n }
        }
        self.info = info
    }

    public func string(_ key: String) -> String { info[key] as? String ?? "" }
    public func int(_ key: String) -> Int { info[key] as? Int ?? -1 }

    /// Closes the fixture's standard input (it then stops what it started) and waits for it.
    public func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { stop() }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A temporary directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    public init() {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-upstream-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
