import OCI
import Storage
import Synchronization

/// The fills under way, one per digest: the in-flight table that makes every request for a
/// digest join the one fetch already running.
final class FillTable: Sendable {
    private let fills = Mutex<[Digest: BlobFill]>([:])
    private let store: ContentStore

    init(store: ContentStore) {
        self.store = store
    }

    /// The fill running for `digest`, or a new one (`isNew`), whose fetch the caller starts.
    func startOrJoin(_ digest: Digest, route: MirrorRoute?) throws(RegistryError) -> (fill: BlobFill, isNew: Bool) {
        if let running = self[digest] { return (running, false) }
        let staging: StagingFile
        do {
            staging = try store.makeStagingFile(for: digest)
        } catch {
            throw RegistryError(.unknown, "cannot stage \(digest): \(error)")
        }
        var creationError: (any Error)?
        let result = fills.withLock { fills -> (BlobFill, Bool)? in
            if let running = fills[digest] { return (running, false) }
            do {
                let fill = try BlobFill(digest: digest, route: route, staging: staging)
                fills[digest] = fill
                return (fill, true)
            } catch {
                creationError = error
                return nil
            }
        }
        guard let result else {
            throw RegistryError(.unknown, "cannot start fetching \(digest): \(creationError.map { "\($0)" } ?? "")")
        }
        return result
    }

    subscript(digest: Digest) -> BlobFill? {
        fills.withLock { $0[digest] }
    }

    /// Called when a fill has ended; a newer fill of the same digest is left alone.
    func remove(_ fill: BlobFill) {
        fills.withLock { fills in
            if fills[fill.digest] === fill { fills[fill.digest] = nil }
        }
    }
}
