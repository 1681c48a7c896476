import OCI

/// An OpenShift `ImageStream` (`image.openshift.io/v1`), in the API's own JSON/YAML shape.
///
/// Only what a registry needs is modelled; other fields are read past. The repository a stream
/// serves is `<namespace>/<name>`.
public struct ImageStream: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: Metadata
    public var spec: Spec?
    public var status: Status?

    public struct Metadata: Codable, Sendable, Equatable {
        public var name: String
        public var namespace: String?
        public var annotations: [String: String]?
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var tags: [TagReference]?
    }

    /// `spec.tags[]`: where a tag comes from and how it is imported.
    public struct TagReference: Codable, Sendable, Equatable {
        public var name: String
        public var from: ObjectReference?
        public var reference: Bool?
        public var generation: Int64?
        public var importPolicy: ImportPolicy?
        public var referencePolicy: ReferencePolicy?
    }

    public struct ObjectReference: Codable, Sendable, Equatable {
        /// `DockerImage`, `ImageStreamTag` or `ImageStreamImage`.
        public var kind: String
        public var name: String
        public var namespace: String?
    }

    public struct ImportPolicy: Codable, Sendable, Equatable {
        /// TLS verification off, plain HTTP allowed, for this tag's registry.
        public var insecure: Bool?
        public var scheduled: Bool?
        public var importMode: String?
    }

    public struct ReferencePolicy: Codable, Sendable, Equatable {
        /// `Source` (the default) or `Local`.
        public var type: String
    }

    public struct Status: Codable, Sendable, Equatable {
        public var dockerImageRepository: String?
        public var publicDockerImageRepository: String?
        public var tags: [NamedTagEventList]?
    }

    /// `status.tags[]`: a tag's history, newest first (`items[0]` is current).
    public struct NamedTagEventList: Codable, Sendable, Equatable {
        public var tag: String
        public var items: [TagEvent]?
    }

    public struct TagEvent: Codable, Sendable, Equatable {
        public var created: String?
        /// Where the image was tagged from: `registry/repository@sha256:…` (or `:tag`).
        public var dockerImageReference: String
        /// The image's manifest digest.
        public var image: String
        public var generation: Int64?

        public init(created: String? = nil, dockerImageReference: String, image: String, generation: Int64? = nil) {
            self.created = created
            self.dockerImageReference = dockerImageReference
            self.image = image
            self.generation = generation
        }
    }

    public init(namespace: String, name: String, spec: Spec? = nil, status: Status? = nil) {
        self.apiVersion = "image.openshift.io/v1"
        self.kind = "ImageStream"
        self.metadata = Metadata(name: name, namespace: namespace)
        self.spec = spec
        self.status = status
    }

    /// The annotation that makes every registry of the stream insecure.
    public static let insecureAnnotation = "openshift.io/image.insecureRepository"

    /// The newest status item of `tag`: what the tag resolves to.
    public func newestItem(of tag: String) -> TagEvent? {
        status?.tags?.first { $0.tag == tag }?.items?.first
    }

    /// The manifest digests of every image in the stream's history.
    public var images: Set<Digest> {
        Set((status?.tags ?? []).flatMap { $0.items ?? [] }.compactMap { Digest($0.image) })
    }
}
