import Foundation
import OCI
import Synchronization
import Yams

/// The ImageStreams of a directory laid out like a cluster's namespaces:
///
/// ```
/// <directory>/<namespace>/*.yaml|*.yml|*.json   ImageStream objects (one per file, or a `List`)
/// <directory>/<namespace>/.dockerconfigjson     the namespace's pull secret (`kubernetes.io/dockerconfigjson`)
/// ```
///
/// The namespace is the directory's name (a `metadata.namespace` that disagrees is reported and
/// the object skipped). `reloadIfChanged()` rereads everything when any file's size or
/// modification time changed, so an edit on disk is served without a restart.
public final class ImageStreamCatalog: Sendable {
    public let directory: String
    private let state = Mutex<Snapshot>(Snapshot())

    struct Snapshot: Sendable {
        var loaded: ContinuousClock.Instant?
        var stamp: [String: FileStamp] = [:]
        var namespaces: [String: Namespace] = [:]
    }

    struct Namespace: Sendable {
        var streams: [String: ImageStream] = [:]
        /// The file each stream was read from, and how many streams that file holds.
        var sources: [String: (path: String, objects: Int)] = [:]
        /// The whole document of each stream that has a file of its own, unmodeled fields included.
        var documents: [String: JSONValue] = [:]
        var pullSecret: Data?
    }

    struct FileStamp: Equatable, Sendable {
        var modified: Date
        var size: Int
    }

    /// Reads the directory once.
    /// - Returns: the catalog and what could not be read (each line names its file).
    public static func load(directory: String) -> (ImageStreamCatalog, [String]) {
        let catalog = ImageStreamCatalog(directory: directory)
        return (catalog, catalog.reloadIfChanged() ?? [])
    }

    init(directory: String) {
        self.directory = directory
    }

    /// The stream `<namespace>/<name>`, if there is one.
    public func stream(namespace: String, name: String) -> ImageStream? {
        state.withLock { $0.namespaces[namespace]?.streams[name] }
    }

    /// The stream `<namespace>/<name>` as its file says it, fields Wharf does not model included;
    /// nil when there is no such stream or its file holds others too.
    public func document(namespace: String, name: String) -> JSONValue? {
        state.withLock { $0.namespaces[namespace]?.documents[name] }
    }

    /// The stream a repository name stands for: `<namespace>/<name>`, exactly two components.
    public func stream(for repository: RepositoryName) -> ImageStream? {
        let parts = repository.components
        guard parts.count == 2 else { return nil }
        return stream(namespace: String(parts[0]), name: String(parts[1]))
    }

    /// The namespace's `.dockerconfigjson`, unparsed (the upstream client reads its `auths`).
    public func pullSecret(namespace: String) -> Data? {
        state.withLock { $0.namespaces[namespace]?.pullSecret }
    }

    /// Every stream, by namespace (for listing).
    public var streams: [ImageStream] {
        state.withLock { $0.namespaces.values.flatMap(\.streams.values) }
    }

    /// Rereads the directory if a file was added, removed or changed since the last read, or
    /// (with `maxAge`, OpenShift's `projectcachettl`) if the last read is older than that.
    /// - Returns: nil when nothing was reread; else what could not be read (empty when all was well).
    @discardableResult
    public func reloadIfChanged(maxAge: Duration? = nil) -> [String]? {
        let stamp = currentStamp()
        let (previous, loaded) = state.withLock { ($0.stamp, $0.loaded) }
        let expired = if let maxAge, let loaded { loaded + maxAge <= .now } else { false }
        guard stamp != previous || loaded == nil || expired else { return nil }
        var problems: [String] = []
        var namespaces: [String: Namespace] = [:]
        let manager = FileManager.default
        for namespace in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] where !namespace.hasPrefix(".") {
            let folder = "\(directory)/\(namespace)"
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            var entry = Namespace()
            entry.pullSecret = manager.contents(atPath: "\(folder)/.dockerconfigjson")
            for file in ((try? manager.contentsOfDirectory(atPath: folder)) ?? []).sorted() where Self.isObjectFile(file) {
                let path = "\(folder)/\(file)"
                do {
                    guard let data = manager.contents(atPath: path) else { throw ImageStreamError("cannot be read") }
                    let json = path.hasSuffix(".json")
                    let objects = try Self.decode(data, json: json)
                    for stream in objects {
                        if let declared = stream.metadata.namespace, declared != namespace {
                            problems.append("\(path): ImageStream \(stream.metadata.name) says namespace \(declared) but lies under \(namespace); skipped")
                            continue
                        }
                        guard RepositoryName("\(namespace)/\(stream.metadata.name)") != nil else {
                            problems.append("\(path): \(namespace)/\(stream.metadata.name) is not a valid repository name; skipped")
                            continue
                        }
                        entry.streams[stream.metadata.name] = stream
                        entry.sources[stream.metadata.name] = (path, objects.count)
                        if objects.count == 1, let document = try? Self.decodeDocument(data, json: json) {
                            entry.documents[stream.metadata.name] = document
                        }
                    }
                } catch {
                    problems.append("\(path): \(error)")
                }
            }
            namespaces[namespace] = entry
        }
        state.withLock { $0 = Snapshot(loaded: .now, stamp: stamp, namespaces: namespaces) }
        return problems
    }

    /// Writes `stream` to `<directory>/<namespace>/<name>.json` (atomically) and rereads.
    /// What Wharf does not model is kept: from `original` (a PUT's body) when given, else from
    /// the stream's current file.
    /// - Throws: when the stream is defined in another file, which would then hold a second copy.
    public func write(_ stream: ImageStream, namespace: String, original: JSONValue? = nil) throws {
        let name = stream.metadata.name
        let path = "\(directory)/\(namespace)/\(name).json"
        if let source = state.withLock({ $0.namespaces[namespace]?.sources[name] }), source.path != path {
            throw ImageStreamError("\(namespace)/\(name) is defined in \(source.path); edit that file")
        }
        var stored = stream
        stored.metadata.namespace = namespace
        stored.apiVersion = stored.apiVersion ?? "image.openshift.io/v1"
        stored.kind = "ImageStream"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let modeled = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(stored))
        let base = original ?? document(namespace: namespace, name: name)
        let document = base.map { $0.overlaid(with: modeled) } ?? modeled
        try FileManager.default.createDirectory(atPath: "\(directory)/\(namespace)", withIntermediateDirectories: true)
        try encoder.encode(document).write(to: URL(fileURLWithPath: path), options: .atomic)
        reloadIfChanged()
    }

    /// Removes the file holding only the stream `<namespace>/<name>`, and rereads.
    /// - Returns: false when there is no such stream.
    /// - Throws: when its file holds other streams too.
    public func delete(namespace: String, name: String) throws -> Bool {
        guard let source = state.withLock({ $0.namespaces[namespace]?.sources[name] }) else { return false }
        guard source.objects == 1 else {
            throw ImageStreamError("\(namespace)/\(name) is one of \(source.objects) objects in \(source.path); edit that file")
        }
        try FileManager.default.removeItem(atPath: source.path)
        reloadIfChanged()
        return true
    }

    /// The namespace's streams, sorted by name.
    public func streams(namespace: String) -> [ImageStream] {
        state.withLock { ($0.namespaces[namespace]?.streams.values).map(Array.init) ?? [] }.sorted { $0.metadata.name < $1.metadata.name }
    }

    private static func isObjectFile(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json"))
    }

    /// Size and modification time of every file two levels down.
    private func currentStamp() -> [String: FileStamp] {
        let manager = FileManager.default
        var stamp: [String: FileStamp] = [:]
        for namespace in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] {
            let folder = "\(directory)/\(namespace)"
            for file in (try? manager.contentsOfDirectory(atPath: folder)) ?? [] {
                let path = "\(folder)/\(file)"
                guard let attributes = try? manager.attributesOfItem(atPath: path) else { continue }
                stamp[path] = FileStamp(modified: attributes[.modificationDate] as? Date ?? .distantPast,
                                        size: (attributes[.size] as? NSNumber)?.intValue ?? -1)
            }
        }
        return stamp
    }

    /// The ImageStreams of one file: one object, or a `List` of them.
    /// The ImageStreams of a JSON or YAML document: one object, or a `List` of them.
    public static func decode(_ data: Data, json: Bool) throws -> [ImageStream] {
        func parse<T: Decodable>(_ type: T.Type) throws -> T {
            if json { return try JSONDecoder().decode(type, from: data) }
            return try YAMLDecoder().decode(type, from: data)
        }
        let header = try parse(KindHeader.self)
        switch header.kind {
        case "List", "ImageStreamList":
            return try parse(ObjectList.self).items.filter { $0.kind == nil || $0.kind == "ImageStream" }
        case nil, "ImageStream":
            return [try parse(ImageStream.self)]
        case let other?:
            throw ImageStreamError("kind \(other) is not ImageStream or List")
        }
    }

    /// A single-object document, whole (fields Wharf does not model included).
    public static func decodeDocument(_ data: Data, json: Bool) throws -> JSONValue {
        json ? try JSONDecoder().decode(JSONValue.self, from: data) : try YAMLDecoder().decode(JSONValue.self, from: data)
    }

    private struct KindHeader: Decodable { var kind: String? }
    private struct ObjectList: Decodable { var items: [ImageStream] }
}

/// A stream file that cannot be used; the message says why.
public struct ImageStreamError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Which upstream repositories are known to hold a digest, for `blobrepositorycachettl`.
public final class BlobRepositoryCache: Sendable {
    private let ttl: Duration
    private let entries = Mutex<[Digest: [String: ContinuousClock.Instant]]>([:])

    public init(ttl: Duration) { self.ttl = ttl }

    /// Bounds: digests, and repositories per digest (expired ones go first when full).
    static let digestCapacity = 1 << 16
    static let repositoriesPerDigest = 64

    public func remember(_ digest: Digest, in repository: String) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries[digest] == nil, entries.count >= Self.digestCapacity {
                entries = entries.compactMapValues { repositories in
                    let live = repositories.filter { $0.value > now }
                    return live.isEmpty ? nil : live
                }
                if entries.count >= Self.digestCapacity { entries.removeAll(keepingCapacity: true) }
            }
            var repositories = entries[digest] ?? [:]
            if repositories[repository] == nil, repositories.count >= Self.repositoriesPerDigest {
                repositories = repositories.filter { $0.value > now }
                if repositories.count >= Self.repositoriesPerDigest,
                   let oldest = repositories.min(by: { $0.value < $1.value })?.key {
                    repositories[oldest] = nil
                }
            }
            repositories[repository] = now + ttl
            entries[digest] = repositories
        }
    }

    /// Repositories (`registry/repository`) still known to hold `digest`.
    public func repositories(holding digest: Digest) -> [String] {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            let live = (entries[digest] ?? [:]).filter { $0.value > now }
            entries[digest] = live.isEmpty ? nil : live
            return live.keys.sorted()
        }
    }
}
