import ArgumentParser
import Foundation
import HTTPClient
import OCI
import Upstream

/// `wharf prefetch IMAGE...`: has a running Wharf mirror whole images before a site is cut off.
///
/// It asks Wharf, as any client would, for each image's manifests (an index and its children)
/// and starts every blob with `Range: bytes=0-1`, which makes Wharf fetch the whole blob once and
/// keep it after the client hangs up. With `--wait` (the default) it then reads each blob to its
/// end, so it returns only when everything is stored and digest-checked. Being an ordinary client,
/// it goes through Wharf's routing and registry policy: a refused registry gets `DENIED`.
struct PrefetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefetch",
        abstract: "Have a running Wharf mirror images whole (for air-gapped or edge sites).",
        discussion: """
            IMAGE is registry/repository[:tag|@digest], e.g. docker.io/library/alpine:3.20 or \
            registry.example:5000/team/app@sha256:…; Wharf reaches the registry through containerd's \
            ?ns= parameter, so its mirror configuration (upstreams, allowunlisted, policy) applies. \
            Exits 1 if any image could not be prefetched, printing Wharf's error.
            """
    )

    @Argument(help: "Images to mirror: registry/repository[:tag|@digest].")
    var images: [String]

    @Option(help: "The Wharf to fill (its base URL).")
    var wharf: String = "http://127.0.0.1:5000"

    @Option(help: "Only this platform of a multi-platform image, os/arch[/variant] (repeatable; default: every platform).")
    var platform: [String] = []

    @Flag(inversion: .prefixedNo, help: "Wait until every blob is stored and verified (--no-wait only starts the fills).")
    var wait = true

    @Option(name: .customLong("ca-dir"), help: "certs.d-style directory (<dir>/<host[:port]>/*.crt) to trust Wharf's certificate.")
    var caDirectory: String?

    @Flag(help: "Do not verify Wharf's TLS certificate.")
    var insecure = false

    func run() async throws {
        let platforms = try platform.map { text in
            guard let parsed = PlatformFilter(text) else { throw ValidationError("--platform \(text): expected os/arch[/variant]") }
            return parsed
        }
        var targets: [(text: String, target: UpstreamTarget)] = []
        for text in images {
            guard let target = UpstreamTarget(parsing: text), target.repository != nil else {
                throw ValidationError("'\(text)' is not registry/repository[:tag|@digest]")
            }
            targets.append((text, target))
        }
        let client = try HTTPClient(configuration: .init(certsDirectory: caDirectory))
        defer { client.shutdown() }
        let prefetcher = Prefetcher(client: client, base: wharf.hasSuffix("/") ? String(wharf.dropLast()) : wharf,
                                    platforms: platforms, insecure: insecure)
        var failures = 0
        for (text, target) in targets {
            let started = ContinuousClock.now
            do {
                let summary = try await prefetcher.prefetch(target, wait: wait)
                let seconds = Double((ContinuousClock.now - started).components.seconds)
                    + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                print("\(text): \(summary.manifests) manifest(s), \(summary.blobs) blob(s), "
                      + String(format: "%.1f MiB", Double(summary.bytes) / 1_048_576)
                      + (wait ? " stored and verified" : " being fetched") + String(format: " in %.1fs", seconds))
            } catch {
                print("\(text): FAILED: \(error.message)")
                failures += 1
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// An `os/arch[/variant]` a child manifest of an index must match.
struct PlatformFilter: Sendable {
    var os: String
    var architecture: String
    var variant: String?

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), !parts.contains(where: \.isEmpty) else { return nil }
        os = parts[0]
        architecture = parts[1]
        variant = parts.count == 3 ? parts[2] : nil
    }

    func matches(_ platform: Descriptor.Platform?) -> Bool {
        guard let platform else { return false }
        return platform.os == os && platform.architecture == architecture && (variant == nil || platform.variant == variant)
    }
}

struct PrefetchError: Error {
    var message: String
}

/// Walks one image through a Wharf and starts (then awaits) the fill of each of its blobs.
struct Prefetcher: Sendable {
    let client: HTTPClient
    let base: String
    let platforms: [PlatformFilter]
    let insecure: Bool

    struct Summary {
        var manifests = 0
        var blobs = 0
        var bytes: Int64 = 0
    }

    func prefetch(_ target: UpstreamTarget, wait: Bool) async throws(PrefetchError) -> Summary {
        guard let repository = target.repository else { throw PrefetchError(message: "no repository") }
        let reference = target.reference?.description ?? "latest"
        var summary = Summary()
        var blobs: [String: Descriptor] = [:]
        var pending = [reference]
        while let next = pending.popLast() {
            let manifest = try await fetchManifest(repository, next, registry: target.registry)
            summary.manifests += 1
            if manifest.isIndex {
                let children = manifest.manifests.filter { child in platforms.isEmpty || platforms.contains { $0.matches(child.platform) } }
                if children.isEmpty && !platforms.isEmpty {
                    throw PrefetchError(message: "the index has no manifest for \(platforms.map { "\($0.os)/\($0.architecture)" })")
                }
                pending += children.map(\.digest)
            } else {
                for blob in manifest.referencedBlobs { blobs[blob.digest] = blob }
            }
        }
        summary.blobs = blobs.count
        // Sizes come from an upstream's manifests: summed saturating, never trapping on a lie.
        summary.bytes = blobs.values.reduce(Int64(0)) { total, blob in
            let (sum, overflow) = total.addingReportingOverflow(max(0, blob.size))
            return overflow ? .max : sum
        }
        let ordered = blobs.values.sorted { $0.digest < $1.digest }
        // Every fill starts at once; Wharf bounds how many run (mirror.maxconcurrentfills).
        try await forEach(ordered) { blob throws(PrefetchError) in
            try await startFill(repository, blob, registry: target.registry)
        }
        if wait {
            try await forEach(ordered) { blob throws(PrefetchError) in
                try await awaitFill(repository, blob, registry: target.registry)
            }
        }
        return summary
    }

    private func url(_ repository: RepositoryName, _ kind: String, _ reference: String, registry: String) -> String {
        let ns = registry.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_:"))) ?? registry
        return "\(base)/v2/\(repository)/\(kind)/\(reference)?ns=\(ns)"
    }

    private func request(_ url: String) -> HTTPRequest {
        var request = HTTPRequest(.get, url: url)
        if insecure { request.tls = .insecure }
        return request
    }

    private func fetchManifest(_ repository: RepositoryName, _ reference: String, registry: String) async throws(PrefetchError) -> Manifest {
        var request = request(url(repository, "manifests", reference, registry: registry))
        request.headers.add("Accept", MediaType.manifestTypes.joined(separator: ", "))
        let response = try await execute(request, what: "manifest \(repository):\(reference)")
        do {
            return try Manifest(bytes: response.body, declaredType: response.head.headers["Content-Type"])
        } catch {
            throw PrefetchError(message: "manifest \(repository):\(reference): \(error.message)")
        }
    }

    private func startFill(_ repository: RepositoryName, _ blob: Descriptor, registry: String) async throws(PrefetchError) {
        var request = request(url(repository, "blobs", blob.digest, registry: registry))
        request.range = (0, 1)
        _ = try await execute(request, what: "blob \(blob.digest)")
    }

    /// Reads the blob to its end: Wharf holds the last byte back until the digest is verified.
    private func awaitFill(_ repository: RepositoryName, _ blob: Descriptor, registry: String) async throws(PrefetchError) {
        let sink = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard sink >= 0 else { throw PrefetchError(message: "cannot open /dev/null") }
        defer { close(sink) }
        let download: HTTPDownload
        do {
            download = try await client.download(request(url(repository, "blobs", blob.digest, registry: registry)), to: sink)
        } catch {
            throw PrefetchError(message: "blob \(blob.digest): \(error)")
        }
        guard download.head.isSuccess else { throw PrefetchError(message: "blob \(blob.digest): HTTP \(download.head.status)") }
        guard download.digest == blob.digest else {
            throw PrefetchError(message: "blob \(blob.digest): Wharf sent bytes whose digest is \(download.digest ?? "unknown")")
        }
    }

    /// Runs the request; a non-2xx answer becomes Wharf's own OCI error message.
    private func execute(_ request: HTTPRequest, what: String) async throws(PrefetchError) -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await client.execute(request, maxBodySize: Manifest.maximumSize)
        } catch {
            throw PrefetchError(message: "\(what): \(error)")
        }
        guard response.head.isSuccess else {
            throw PrefetchError(message: "\(what): HTTP \(response.status) \(Self.errorText(response.body))")
        }
        return response
    }

    /// `CODE: message` of each OCI error in a body, or the body's start.
    static func errorText(_ body: [UInt8]) -> String {
        struct Document: Decodable {
            struct Entry: Decodable { var code: String; var message: String? }
            var errors: [Entry]
        }
        if let document = try? JSONDecoder().decode(Document.self, from: Data(body)), !document.errors.isEmpty {
            return document.errors.map { "\($0.code): \($0.message ?? "")" }.joined(separator: "; ")
        }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    /// Runs `body` for every element, eight at a time, failing with the first error.
    private func forEach(_ blobs: [Descriptor], _ body: @escaping @Sendable (Descriptor) async throws(PrefetchError) -> Void)
        async throws(PrefetchError) {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var index = 0
                for blob in blobs {
                    if index >= 8 { try await group.next() }
                    index += 1
                    group.addTask { try await body(blob) }
                }
                try await group.waitForAll()
            }
        } catch let error as PrefetchError {
            throw error
        } catch {
            throw PrefetchError(message: "\(error)")
        }
    }
}
