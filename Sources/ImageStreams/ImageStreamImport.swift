import OCI

/// An OpenShift `ImageStreamImport` (`image.openshift.io/v1`): "resolve these `DockerImage`
/// references upstream and record them as tags of the stream", as `oc import-image` sends it.
/// Only `spec.images` is modelled (not `spec.repository`).
public struct ImageStreamImport: Codable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ImageStream.Metadata
    public var spec: Spec
    public var status: Status?

    public struct Spec: Codable, Sendable {
        /// false: a dry run, nothing recorded.
        public var `import`: Bool?
        public var images: [ImageImportSpec]?
    }

    public struct ImageImportSpec: Codable, Sendable {
        public var from: ImageStream.ObjectReference
        /// The tag to record; defaults to the reference's tag.
        public var to: LocalObjectReference?
        public var importPolicy: ImageStream.ImportPolicy?
        public var referencePolicy: ImageStream.ReferencePolicy?
    }

    public struct LocalObjectReference: Codable, Sendable {
        public var name: String
    }

    public struct Status: Codable, Sendable {
        public var `import`: ImageStream?
        public var images: [ImageImportStatus]?

        public init(import stream: ImageStream?, images: [ImageImportStatus]) {
            self.import = stream
            self.images = images
        }
    }

    public struct ImageImportStatus: Codable, Sendable {
        public var status: APIStatus
        public var tag: String?
        public var image: ImportedImage?

        public init(status: APIStatus, tag: String?, image: ImportedImage?) {
            self.status = status
            self.tag = tag
            self.image = image
        }
    }

    /// Kubernetes' `metav1.Status`, as the API reports an outcome.
    public struct APIStatus: Codable, Sendable {
        public var kind: String? = "Status"
        public var apiVersion: String? = "v1"
        /// `Success` or `Failure`.
        public var status: String
        public var message: String?
        public var reason: String?
        public var code: Int?

        public init(status: String, message: String? = nil, reason: String? = nil, code: Int? = nil) {
            self.status = status
            self.message = message
            self.reason = reason
            self.code = code
        }
    }

    /// The part of an `Image` an import reports: its name (the digest) and where it came from.
    public struct ImportedImage: Codable, Sendable {
        public var metadata: ImageStream.Metadata
        public var dockerImageReference: String

        public init(digest: Digest, reference: String) {
            self.metadata = ImageStream.Metadata(name: digest.description)
            self.dockerImageReference = reference
        }
    }
}

extension ImageStream {
    /// Records that `tag` now points at `digest`, pulled from `reference`: the spec tag is set
    /// (or added) and, unless the tag's newest item is that image already, a new item is put first.
    public mutating func record(tag: String, from reference: DockerImageReference, digest: Digest, created: String,
                                importPolicy: ImportPolicy?, referencePolicy: ReferencePolicy?) {
        var specTags = spec?.tags ?? []
        let index = specTags.firstIndex { $0.name == tag } ?? {
            specTags.append(TagReference(name: tag))
            return specTags.count - 1
        }()
        let generation = (specTags[index].generation ?? 0) + 1
        specTags[index].from = ObjectReference(kind: "DockerImage", name: reference.description)
        specTags[index].generation = generation
        if let importPolicy { specTags[index].importPolicy = importPolicy }
        if let referencePolicy { specTags[index].referencePolicy = referencePolicy }
        spec = Spec(tags: specTags)

        var statusTags = status?.tags ?? []
        let listIndex = statusTags.firstIndex { $0.tag == tag } ?? {
            statusTags.append(NamedTagEventList(tag: tag, items: []))
            return statusTags.count - 1
        }()
        var items = statusTags[listIndex].items ?? []
        var pinned = reference
        pinned.tag = nil
        pinned.digest = digest
        if items.first?.image != digest.description {
            items.insert(TagEvent(created: created, dockerImageReference: pinned.description, image: digest.description, generation: generation), at: 0)
        }
        statusTags[listIndex].items = items
        var newStatus = status ?? Status()
        newStatus.tags = statusTags
        status = newStatus
    }
}

extension ImageStream.TagReference {
    public init(name: String) {
        self.name = name
    }
}
