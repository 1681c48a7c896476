import Synchronization

/// The registry policy in force, replaceable while serving: a reloaded configuration's
/// `policy.registries` takes effect for the next request, without a restart.
public final class LivePolicy: Sendable {
    private let policy: Mutex<RegistryPolicy>

    public init(_ policy: RegistryPolicy) {
        self.policy = Mutex(policy)
    }

    public var current: RegistryPolicy { policy.withLock { $0 } }

    public func replace(with policy: RegistryPolicy) {
        self.policy.withLock { $0 = policy }
    }
}
