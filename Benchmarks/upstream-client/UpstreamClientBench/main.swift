// Downloads one URL through HTTPClient's file sink and prints throughput, digest and peak RSS
// as one JSON line. Used by Benchmarks/upstream-client/run.sh.
// usage: UpstreamClientBench <url> <output-file> [--no-hash] [--loop-hash] [--stream]
//        UpstreamClientBench <MiB> - --hash-only
import Foundation
import HTTPClient
import OCI

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: UpstreamClientBench <url> <output-file> [--no-hash] [--stream]\n".utf8))
    exit(2)
}
let hashing: DigestHasher.Algorithm? = args.contains("--no-hash") ? nil : .sha256
if args.contains("--hash-only") {
    // The hashing ceiling: SHA-256 over <url-argument> MiB of an in-memory 256 KiB buffer.
    let mib = Int(args[1]) ?? 1024
    let buffer = [UInt8](repeating: 0x5a, count: 256 * 1024)
    var hasher = DigestHasher(algorithm: .sha256)
    let t0 = ContinuousClock.now
    for _ in 0..<(mib * 4) { hasher.update(buffer) }
    let d = ContinuousClock.now - t0
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    print("{\"hash_only_mib_per_s\": \(String(format: "%.0f", Double(mib) / s)), \"digest\": \"\(hasher.finalize())\"}")
    exit(0)
}
let client = try HTTPClient()
let fd = open(args[2], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
guard fd >= 0 else { fatalError("cannot open \(args[2])") }

func peakRSSKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

let start = ContinuousClock.now
var bytes: Int64 = 0
var digest = "-"
var status = 0
if args.contains("--stream") {
    // The streaming sink, consumed by a task that writes each chunk.
    let response = try await client.stream(HTTPRequest(.get, url: args[1]))
    status = response.head.status
    for try await chunk in response.body {
        chunk.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
        bytes += Int64(chunk.count)
    }
} else {
    let placement: HTTPClient.HashPlacement = args.contains("--loop-hash") ? .loopThread : .pipelined
    let result = try await client.download(HTTPRequest(.get, url: args[1]), to: fd, hashing: hashing, placement: placement)
    bytes = result.bytesWritten
    status = result.head.status
    digest = result.digest ?? "-"
}
let elapsed = ContinuousClock.now - start
close(fd)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let mib = Double(bytes) / 1048576 / seconds
print("{\"status\": \(status), \"bytes\": \(bytes), \"seconds\": \(String(format: "%.3f", seconds)), \"mib_per_s\": \(String(format: "%.1f", mib)), \"digest\": \"\(digest)\", \"peak_rss_kib\": \(peakRSSKiB())}")
client.shutdown()
if !(200..<300).contains(status) { exit(1) }
