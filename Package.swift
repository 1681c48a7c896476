// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "wharf",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wharf", targets: ["wharf"]),
        // For Fuzz/, a separate package that depends on this one by path: its fuzz targets
        // (built with -sanitize=fuzzer) import these modules. Nothing else uses this product.
        .library(name: "WharfModules", targets: ["OCI", "HTTPClient", "Upstream", "Mirror", "CDN", "Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
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
        // libcurl from the system (apt: libcurl4-openssl-dev).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Non-variadic wrappers over curl_easy_setopt/getinfo and the macros Swift does not import.
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        // libxcrypt from the system (apt: libcrypt-dev): bcrypt for htpasswd entries.
        .systemLibrary(name: "CCrypt", pkgConfig: "libxcrypt", providers: [.apt(["libcrypt-dev"])]),
        // One Swift face over libcurl's multi interface: a loop thread, sinks, TLS trust, redirects.
        .target(name: "HTTPClient", dependencies: ["CCurl", "CCurlShim", "OCI"]),
        // The upstream registry client: auth challenges, tokens, credentials, manifests and blobs.
        .target(name: "Upstream", dependencies: ["OCI", "HTTPClient"]),
        // Which upstream registries and repositories may be pulled from: allow/block lists, insecure registries.
        .target(name: "Policy", dependencies: ["OCI"]),
        // OpenShift ImageStreams: objects read from a directory, candidate lists, pull secrets.
        .target(name: "ImageStreams", dependencies: ["OCI", .product(name: "Yams", package: "Yams")]),
        // Pull-through: routing to upstreams, one fill per blob read live by every client, manifest freshness.
        .target(
            name: "Mirror",
            dependencies: [
                "OCI", "Storage", "Upstream", "HTTPClient", "Policy", "ImageStreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Registry events (Distribution's notifications format) queued per endpoint and POSTed in the background.
        .target(
            name: "Notifications",
            dependencies: ["OCI", "HTTPClient", .product(name: "Logging", package: "swift-log")]
        ),
        // The HTTP server (SwiftNIO), routing, configuration and wiring.
        .target(
            name: "Server",
            dependencies: [
                "OCI", "Storage", "Mirror", "CDN", "CCrypt", "Notifications", "Policy", "ImageStreams",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
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
                "Server", "Upstream", "CDN", "HTTPClient", "OCI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Benchmarks/upstream-client: downloads one URL through HTTPClient's file sink.
        .executableTarget(
            name: "UpstreamClientBench",
            dependencies: ["HTTPClient", "OCI"],
            path: "Benchmarks/upstream-client/UpstreamClientBench"
        ),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        // Starts the Python fixtures of Tests/IntegrationTests/upstream for the two test targets below.
        .target(name: "UpstreamTestSupport", path: "Tests/UpstreamTestSupport"),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "OCI", "UpstreamTestSupport"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "HTTPClient", "OCI", "UpstreamTestSupport"]),
        .testTarget(name: "CDNTests", dependencies: ["CDN", "OCI", "Storage"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "OCI"]),
        .testTarget(
            name: "MirrorTests",
            dependencies: ["Mirror", "Storage", "OCI", "HTTPClient", "Policy", .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(name: "NotificationsTests", dependencies: ["Notifications", "OCI"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "OCI"]),
        .testTarget(name: "ImageStreamsTests", dependencies: ["ImageStreams", "OCI"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "OCI", "Mirror", "Notifications", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)
