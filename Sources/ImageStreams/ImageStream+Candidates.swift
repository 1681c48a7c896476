import OCI

/// One upstream repository a stream's content may be pulled from.
public struct PullCandidate: Hashable, Sendable, CustomStringConvertible {
    /// `host[:port]`; Docker Hub as `docker.io`.
    public var registry: String
    public var repository: RepositoryName
    /// TLS verification off and plain HTTP allowed (the stream's annotation, or a tag's `importPolicy.insecure`).
    public var insecure: Bool

    public init(registry: String, repository: RepositoryName, insecure: Bool) {
        self.registry = registry
        self.repository = repository
        self.insecure = insecure
    }

    /// `registry/repository`: the key candidates are deduplicated and cached by.
    public var description: String { "\(registry)/\(repository)" }
}

extension ImageStream {
    /// Where to look for content of this stream, in openshift/image-registry's order:
    ///
    /// 1. repositories `cached` as known to hold the digest (and still candidates of the stream);
    /// 2. primary: the newest item of each tag;
    /// 3. secondary: every older item.
    ///
    /// Within 2 and 3, secure repositories come before insecure ones, each sorted by name; a
    /// repository already listed is dropped. References to the stream's own registry
    /// (`status.dockerImageRepository`, `publicDockerImageRepository`) are skipped. A registry is
    /// insecure if the stream is annotated `openshift.io/image.insecureRepository: "true"` or any
    /// tag whose history names that registry has `importPolicy.insecure: true`.
    public func candidates(cached: [String] = []) -> [PullCandidate] {
        let ownRegistries = Set([status?.dockerImageRepository, status?.publicDockerImageRepository]
            .compactMap { $0.flatMap(DockerImageReference.init)?.registry })
        let streamInsecure = metadata.annotations?[Self.insecureAnnotation] == "true"
        let insecureTags = Set((spec?.tags ?? []).filter { $0.importPolicy?.insecure == true }.map(\.name))
        var insecureRegistries: Set<String> = []
        var primary: [DockerImageReference] = [], secondary: [DockerImageReference] = []
        for list in status?.tags ?? [] {
            for (index, item) in (list.items ?? []).enumerated() {
                guard let reference = DockerImageReference(item.dockerImageReference),
                      !ownRegistries.contains(reference.registry) else { continue }
                if insecureTags.contains(list.tag) { insecureRegistries.insert(reference.registry) }
                if index == 0 { primary.append(reference) } else { secondary.append(reference) }
            }
        }
        func candidate(_ reference: DockerImageReference) -> PullCandidate {
            PullCandidate(registry: reference.registry, repository: reference.repository,
                          insecure: streamInsecure || insecureRegistries.contains(reference.registry))
        }
        func ordered(_ references: [DockerImageReference]) -> [PullCandidate] {
            Set(references.map(candidate)).sorted { ($0.insecure ? 1 : 0, $0.description) < ($1.insecure ? 1 : 0, $1.description) }
        }
        var seen: Set<String> = []
        var result: [PullCandidate] = []
        let all = ordered(primary) + ordered(secondary)
        for key in cached {
            if let hit = all.first(where: { $0.description == key }), seen.insert(key).inserted { result.append(hit) }
        }
        for candidate in all where seen.insert(candidate.description).inserted {
            result.append(candidate)
        }
        return result
    }
}
