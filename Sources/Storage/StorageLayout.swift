import OCI

/// Where the registry keeps things: Distribution's `registry/storage/paths.go` layout.
///
/// ```
/// docker/registry/v2/blobs/<alg>/<2 chars>/<encoded>/data
/// docker/registry/v2/repositories/<name>/_layers/<alg>/<encoded>/link
/// docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<encoded>/link
/// docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
/// docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<encoded>/link
/// docker/registry/v2/repositories/<name>/_uploads/<id>/{data,startedat}
/// ```
/// A `link` file holds the digest string with no newline.
public enum StorageLayout {
    public static let root = StoragePath(["docker", "registry", "v2"])
    public static let repositories = root.appending("repositories")

    public static func blobData(_ digest: Digest) -> StoragePath {
        root.appending("blobs", digest.algorithm, String(digest.encoded.prefix(2)), digest.encoded, "data")
    }

    public static func repository(_ name: RepositoryName) -> StoragePath {
        repositories.appending(name.value)
    }

    public static func layerLink(_ name: RepositoryName, _ digest: Digest) -> StoragePath {
        repository(name).appending("_layers", digest.algorithm, digest.encoded, "link")
    }

    public static func revisions(_ name: RepositoryName) -> StoragePath {
        repository(name).appending("_manifests", "revisions")
    }

    public static func revisionLink(_ name: RepositoryName, _ digest: Digest) -> StoragePath {
        revisions(name).appending(digest.algorithm, digest.encoded, "link")
    }

    public static func tags(_ name: RepositoryName) -> StoragePath {
        repository(name).appending("_manifests", "tags")
    }

    public static func tag(_ name: RepositoryName, _ tag: Tag) -> StoragePath {
        tags(name).appending(tag.value)
    }

    public static func tagCurrentLink(_ name: RepositoryName, _ tag: Tag) -> StoragePath {
        self.tag(name, tag).appending("current", "link")
    }

    public static func tagIndexLink(_ name: RepositoryName, _ tag: Tag, _ digest: Digest) -> StoragePath {
        self.tag(name, tag).appending("index", digest.algorithm, digest.encoded, "link")
    }

    public static func upload(_ name: RepositoryName, _ id: UploadID) -> StoragePath {
        repository(name).appending("_uploads", id.value)
    }

    public static func uploadData(_ name: RepositoryName, _ id: UploadID) -> StoragePath {
        upload(name, id).appending("data")
    }

    public static func uploadStartedAt(_ name: RepositoryName, _ id: UploadID) -> StoragePath {
        upload(name, id).appending("startedat")
    }
}

/// An upload session id: a UUID, checked before it becomes a path.
public struct UploadID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init?(_ string: some StringProtocol) {
        let bytes = Array(string.utf8)
        guard bytes.count == 36 else { return nil }
        for (i, c) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return nil }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) else { return nil }
            }
        }
        value = String(string)
    }

    /// A fresh random (version 4) id.
    public static func random() -> UploadID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return UploadID(parts.joined(separator: "-"))!
    }

    public var description: String { value }
}
