// The configuration reader (Configuration.load(yaml:environment:)): YAML, then REGISTRY_*
// overrides, then validation. Input: YAML text, optionally followed by a NUL byte and
// `NAME=value` lines for the environment. Every rejection must be a thrown error, never a trap.
import Server

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
    let yaml = parts.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var environment: [String: String] = [:]
    if parts.count == 2 {
        for line in String(decoding: parts[1], as: UTF8.self).split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            environment[String(pair[0])] = pair.count == 2 ? String(pair[1]) : ""
        }
    }
    _ = try? Configuration.load(yaml: yaml, environment: environment)
    return 0
}
