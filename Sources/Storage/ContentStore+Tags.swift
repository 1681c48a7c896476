import OCI

extension ContentStore {
    /// The digest `tag` points at in `repository`, or nil.
    public func resolve(_ tag: Tag, in repository: RepositoryName) async throws -> Digest? {
        let key = RepositoryTag(repository: repository, tag: tag)
        if let digest = tagTargets[key] { return digest }
        guard let digest = try await readLink(StorageLayout.tagCurrentLink(repository, tag)) else { return nil }
        tagTargets.insert(digest, for: key)
        return digest
    }

    /// Points `tag` at `digest`, recording it in the tag's index as Distribution does.
    public func tag(_ tag: Tag, to digest: Digest, in repository: RepositoryName) async throws {
        let link = Array(digest.description.utf8)
        try await driver.putContent(StorageLayout.tagIndexLink(repository, tag, digest), link)
        try await driver.putContent(StorageLayout.tagCurrentLink(repository, tag), link)
        tagTargets.insert(digest, for: RepositoryTag(repository: repository, tag: tag))
    }

    /// Removes a tag; the manifest it pointed at stays.
    /// - Returns: false when there was no such tag.
    public func deleteTag(_ tag: Tag, in repository: RepositoryName) async throws -> Bool {
        tagTargets.remove(RepositoryTag(repository: repository, tag: tag))
        let path = StorageLayout.tag(repository, tag)
        guard try await driver.stat(path) != nil else { return false }
        try await driver.delete(path)
        return true
    }

    /// The repository's tags in lexical order, or nil when the repository does not exist.
    public func tags(in repository: RepositoryName) async throws -> [Tag]? {
        guard try await driver.stat(StorageLayout.repository(repository).appending("_manifests")) != nil else { return nil }
        return try await driver.list(StorageLayout.tags(repository)).compactMap { Tag($0) }.sorted()
    }

    /// Every repository holding manifests, in lexical order.
    public func repositories() async throws -> [RepositoryName] {
        var found: [RepositoryName] = []
        try await walkRepositories(StorageLayout.repositories, prefix: [], into: &found)
        return found.sorted()
    }

    private func walkRepositories(_ path: StoragePath, prefix: [String], into found: inout [RepositoryName]) async throws {
        let children = try await driver.list(path)
        if children.contains("_manifests"), let name = RepositoryName(prefix.joined(separator: "/")) {
            found.append(name)
        }
        for child in children where !child.hasPrefix("_") && !child.hasPrefix(".") {
            if try await driver.stat(path.appending(child))?.isDirectory == true {
                try await walkRepositories(path.appending(child), prefix: prefix + [child], into: &found)
            }
        }
    }
}
