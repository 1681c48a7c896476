// swift-tools-version:6.0
// libFuzzer targets for Wharf's parsers of untrusted input. A package of its own, so the root
// package's `swift build` never sees -sanitize=fuzzer; built and run by script/fuzz.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which is whatever the clone is called.
let wharf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

/// One fuzzer: `Sources/<name>/<name>.swift` defines `LLVMFuzzerTestOneInput`; libFuzzer has `main`.
func fuzzer(_ name: String, _ more: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "WharfModules", package: wharf)] + more,
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "WharfFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        // Already one of Wharf's; FuzzJWT signs payloads with it.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
    ],
    targets: [
        fuzzer("FuzzRouter"),
        fuzzer("FuzzRange"),
        fuzzer("FuzzManifest"),
        fuzzer("FuzzConfiguration"),
        fuzzer("FuzzCloudFront"),
        fuzzer("FuzzJWT", [.product(name: "Crypto", package: "swift-crypto")]),
        fuzzer("FuzzAuthChallenge"),
    ]
)
