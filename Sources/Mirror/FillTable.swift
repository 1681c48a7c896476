import OCI
import Storage
import Synchronization

/// The fills under way, one per digest: the in-flight table that makes every request for a
/// digest join the one fetch already running.
final class FillTable: Sendable {
    private let fills = Mutex<[Digest: BlobFill]>([:])
    private let store: ContentStore
    /// Staging space of every fill; a new fill is refused while it is used up.
    let budget: StagingBudget?
    /// Fills under way or waiting for a slot: each holds two descriptors and a staging file.
    let capacity: Int

    init(store: ContentStore, budget: StagingBudget? = nil, capacity: Int = .max) {
        self.store = store
        self.budget = budget
        self.capacity = capacity
    }

    /// The fill running for `digest`, or a new one (`isNew`), whose fetch the caller starts.
    /// - Throws: 503 `UNAVAILABLE` with `Retry-After` when staging is full or `capacity` fills
    ///   are under way.
    func startOrJoin(_ digest: Digest, route: MirrorRoute?) throws(RegistryError) -> (fill: BlobFill, isNew: Bool) {
        if let running = self[digest] { return (running, false) }
        if let budget, budget.bytesInUse >= budget.limit {
            throw BlobFill.stagingFullError(digest, budget: budget)
        }
        if fills.withLock({ $0.count }) >= capacity {
            throw RegistryError(.unavailable, "\(capacity) blob fetches are under way or waiting: cannot fetch \(digest) now; try again",
                                headers: [("Retry-After", String(BlobFill.retryAfterSeconds))], status: 503)
        }
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
                let fill = try BlobFill(digest: digest, route: route, staging: staging, budget: budget)
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
