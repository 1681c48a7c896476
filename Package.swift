// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "wharf",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wharf", targets: ["wharf"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Value types of the OCI Distribution and Image specs; no I/O.
        .target(
            name: "OCI",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Storage drivers and the registry's content store in Distribution's layout.
        .target(
            name: "Storage",
            dependencies: ["OCI", .product(name: "Logging", package: "swift-log")]
        ),
        // The HTTP server (SwiftNIO), routing, configuration and wiring.
        .target(
            name: "Server",
            dependencies: [
                "OCI", "Storage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // CloudFront-style signed URLs: signing redirects and verifying them at the edge.
        .target(
            name: "CDN",
            dependencies: [
                "OCI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "wharf",
            dependencies: [
                "Server", "CDN",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // main.swift holds an @main type; with a second file in the target SwiftPM no longer
            // parses it as a library file. Renaming main.swift (e.g. to Wharf.swift) makes this unnecessary.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // Temporary (branch cdn only): runs `sign-url` before the integrator registers it in `wharf`.
        // Sources/wharf-sign-url/SignURLCommand.swift is a symlink to Sources/wharf/SignURLCommand.swift.
        .executableTarget(
            name: "wharf-sign-url",
            dependencies: ["CDN", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(name: "CDNTests", dependencies: ["CDN", "OCI", "Storage"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "OCI"]),
        .testTarget(
            name: "ServerTests",
            dependencies: ["Server", "OCI", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ]
)
