import Foundation

/// A content descriptor (OCI image spec `descriptor.md`).
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var artifactType: String?
    public var annotations: [String: String]?
    public var urls: [String]?
    public var platform: Platform?

    public init(mediaType: String, digest: String, size: Int64, artifactType: String? = nil,
                annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }

    public struct Platform: Codable, Hashable, Sendable {
        public var architecture: String
        public var os: String
        public var variant: String?
        public var osVersion: String?

        enum CodingKeys: String, CodingKey {
            case architecture, os, variant
            case osVersion = "os.version"
        }
    }
}

/// The parts of an image manifest or index a registry needs: what it references.
///
/// Parsing never re-encodes: the registry stores and serves the exact bytes it was given.
public struct Manifest: Sendable {
    /// Distribution's limit on a manifest body; larger bodies get 413.
    public static let maximumSize = 4 * 1024 * 1024

    /// The effective media type: the body's `mediaType`, else the type the client declared.
    public let mediaType: String
    public let config: Descriptor?
    public let layers: [Descriptor]
    public let manifests: [Descriptor]
    public let subject: Descriptor?
    public let artifactType: String?
    public let annotations: [String: String]?

    private struct Body: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var artifactType: String?
        var annotations: [String: String]?
    }

    /// Parses `bytes` as a manifest of `declaredType` (the request's `Content-Type`).
    ///
    /// - Throws: `RegistryError` `MANIFEST_INVALID` when the body is not a manifest of a
    ///   supported type, or its `mediaType` contradicts the declared type.
    public init(bytes: [UInt8], declaredType: String?) throws(RegistryError) {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON of the expected shape: \(error)")
        }
        let declared = declaredType.map(Self.stripParameters)
        var type = body.mediaType ?? declared ?? ""
        if type.isEmpty || type == "application/json" {
            // OCI allows a manifest without mediaType; infer it from its shape.
            type = body.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        if let bodyType = body.mediaType, let declared, declared != bodyType, declared != "application/json" {
            throw RegistryError(.manifestInvalid, "mediaType \(bodyType) in the manifest does not match Content-Type \(declared)")
        }
        switch type {
        case MediaType.ociManifest, MediaType.dockerManifest:
            guard body.schemaVersion == 2, let config = body.config else {
                throw RegistryError(.manifestInvalid, "an image manifest needs schemaVersion 2 and a config descriptor")
            }
            _ = config
        case MediaType.ociIndex, MediaType.dockerManifestList:
            guard body.schemaVersion == 2, body.manifests != nil else {
                throw RegistryError(.manifestInvalid, "an index needs schemaVersion 2 and a manifests list")
            }
        case MediaType.dockerSchema1, MediaType.dockerSchema1Signed:
            throw RegistryError(.manifestInvalid, "Docker schema 1 manifests are not accepted; push schema 2 or OCI")
        default:
            throw RegistryError(.manifestInvalid, "unsupported manifest media type \(type)")
        }
        for descriptor in (body.config.map { [$0] } ?? []) + (body.layers ?? []) + (body.manifests ?? []) + (body.subject.map { [$0] } ?? []) {
            guard Digest(descriptor.digest) != nil else {
                throw RegistryError(.manifestInvalid, "descriptor digest \(descriptor.digest) is not a valid digest")
            }
            guard descriptor.size >= 0 else {
                throw RegistryError(.manifestInvalid, "descriptor \(descriptor.digest) has a negative size")
            }
        }
        mediaType = type
        config = body.config
        layers = body.layers ?? []
        manifests = body.manifests ?? []
        subject = body.subject
        artifactType = body.artifactType
        annotations = body.annotations
    }

    /// True for an OCI index or a Docker manifest list.
    public var isIndex: Bool { MediaType.isIndex(mediaType) }

    /// Blobs this manifest references that must exist in the repository (layers with
    /// `urls` are foreign and may live elsewhere).
    public var referencedBlobs: [Descriptor] {
        (config.map { [$0] } ?? []) + layers.filter { ($0.urls ?? []).isEmpty }
    }

    /// The artifact type a referrers listing shows for this manifest.
    public var referrerArtifactType: String? {
        artifactType ?? (isIndex ? nil : config?.mediaType)
    }

    /// `type/subtype` without parameters, lowercased.
    public static func stripParameters(_ contentType: String) -> String {
        let bare = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? contentType
        return bare.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
