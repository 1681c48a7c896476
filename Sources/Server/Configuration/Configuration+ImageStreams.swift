extension Configuration {
    /// Reads `openshift.imagestreams` (only that subsection of `openshift`):
    ///
    /// | key | env | meaning |
    /// | --- | --- | --- |
    /// | `openshift.imagestreams.directory` | `REGISTRY_OPENSHIFT_IMAGESTREAMS_DIRECTORY` | `<dir>/<namespace>/*.yaml\|*.json` ImageStreams, `<dir>/<namespace>/.dockerconfigjson` pull secrets |
    /// | `openshift.imagestreams.admintoken` | `REGISTRY_OPENSHIFT_IMAGESTREAMS_ADMINTOKEN` | bearer token of the ImageStream API; unset: the API is off |
    mutating func readImageStreams(_ openshift: ConfigNode) throws {
        guard let node = openshift.child("imagestreams") else { return }
        try node.expectKeys(["directory", "admintoken"])
        guard let directory = try node.string("directory"), !directory.isEmpty else {
            throw ConfigurationError("\(node.path).directory: required, the directory holding <namespace>/*.yaml ImageStreams")
        }
        imageStreamsDirectory = directory
        imageStreamsAdminToken = try node.string("admintoken").flatMap { $0.isEmpty ? nil : $0 }
    }
}
