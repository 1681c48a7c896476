import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Checks user names and passwords against an htpasswd file.
///
/// bcrypt is slow on purpose, and one pull sends dozens of requests with the same Basic
/// credentials, so a success is remembered for `cacheLifetime`. The cache is keyed by an
/// HMAC (with a key made at start-up) of the user, the password and the stored hash: never
/// the password itself, a wrong password never matches, and a changed hash voids the entry.
/// bcrypt runs on NIO's blocking-I/O thread pool, never on an event loop or the cooperative pool,
/// and at most `maxConcurrentChecks` at once (the rest wait their turn): wrong passwords can
/// cost the machine that much CPU and no more. An unknown user is checked against a stored
/// hash of the highest cost too, so that a wrong name takes as long as a wrong password.
///
/// The file is read again when it changes on disk (checked at most every `reloadInterval`),
/// so users can be added or removed without a restart.
final class PasswordVerifier: Sendable {
    typealias Check = @Sendable (_ password: String, _ hash: String) -> Bool

    private struct State {
        var users: Htpasswd
        var stamp: FileStamp?
        var lastReloadCheck: ContinuousClock.Instant
        /// Keyed hash of user, password and stored hash → when the success stops counting.
        var verified: [Data: ContinuousClock.Instant] = [:]
        /// bcrypt runs under way, by the same key.
        var running: [Data: Task<Bool, Never>] = [:]
    }

    private struct FileStamp: Equatable {
        var modified: Date
        var size: Int
    }

    let path: String?
    let cacheLifetime: Duration
    let cacheCapacity: Int
    let reloadInterval: Duration
    private let state: Mutex<State>
    private let cacheKey = SymmetricKey(size: .bits256)
    private let check: Check
    private let logger: Logger
    /// bcrypt runs at once: half the cores, so requests that need no password keep the rest.
    let maxConcurrentChecks: Int
    private let gate: AsyncGate

    /// Reads the file at `path`; a missing or malformed file is a start-up error.
    convenience init(path: String, cacheLifetime: Duration = .seconds(60), logger: Logger) throws(ConfigurationError) {
        let users = try Htpasswd.load(path: path)
        self.init(users: users, path: path, cacheLifetime: cacheLifetime, logger: logger)
    }

    /// - Parameters:
    ///   - path: the file to reload on change; nil for a fixed set of users.
    ///   - check: the password check (bcrypt); tests count its calls.
    init(users: Htpasswd, path: String? = nil, cacheLifetime: Duration = .seconds(60), cacheCapacity: Int = 4096,
         reloadInterval: Duration = .seconds(5), maxConcurrentChecks: Int = max(1, System.coreCount / 2),
         check: @escaping Check = Bcrypt.verify, logger: Logger) {
        self.path = path
        self.cacheLifetime = cacheLifetime
        self.cacheCapacity = cacheCapacity
        self.reloadInterval = reloadInterval
        self.check = check
        self.logger = logger
        self.maxConcurrentChecks = max(1, maxConcurrentChecks)
        self.gate = AsyncGate(width: max(1, maxConcurrentChecks))
        let stamp = path.flatMap(Self.stamp(of:))
        state = Mutex(State(users: users, stamp: stamp, lastReloadCheck: .now))
    }

    var userCount: Int { state.withLock { $0.users.entries.count } }

    /// True when `user` exists and `password` is theirs. Concurrent checks of the same
    /// credentials (the parallel requests that start a pull) share one bcrypt run.
    func verify(user: String, password: String) async -> Bool {
        reloadIfChanged()
        enum Step {
            case unknownUser, verified
            case wait(Task<Bool, Never>)
        }
        let now = ContinuousClock.now
        let check = self.check
        let gate = self.gate
        let step = state.withLock { state -> Step in
            let known = state.users.entries[user]
            guard let hash = known ?? state.users.decoy else { return .unknownUser }
            let key = cacheEntryKey(user: user, password: password, hash: hash)
            if known != nil, let expiry = state.verified[key], expiry > now { return .verified }
            if let running = state.running[key] { return .wait(running) }
            // Started under the lock, so `finished` (which takes it) always sees this entry.
            let task = Task {
                await gate.enter()
                let result = (try? await NIOThreadPool.singleton.runIfActive { check(password, hash) }) ?? false
                gate.leave()
                // A decoy check never lets anyone in, whatever the password.
                let matches = known != nil && result
                self.finished(key, matches: matches)
                return matches
            }
            state.running[key] = task
            return .wait(task)
        }
        switch step {
        case .unknownUser: return false
        case .verified: return true
        case .wait(let task): return await task.value
        }
    }

    private func finished(_ key: Data, matches: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.running[key] = nil
            guard matches else { return }
            if state.verified.count >= cacheCapacity {
                state.verified = state.verified.filter { $0.value > now }
                if state.verified.count >= cacheCapacity { state.verified.removeAll(keepingCapacity: true) }
            }
            state.verified[key] = now + cacheLifetime
        }
    }

    private func cacheEntryKey(user: String, password: String, hash: String) -> Data {
        var input = Data(user.utf8)
        input.append(0)
        input.append(contentsOf: password.utf8)
        input.append(0)
        input.append(contentsOf: hash.utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: input, using: cacheKey))
    }

    /// Re-reads the file when its size or modification time changed; a file that no longer
    /// parses leaves the users as they were, with an error in the log.
    private func reloadIfChanged() {
        guard let path else { return }
        let now = ContinuousClock.now
        let due = state.withLock { state in
            guard now - state.lastReloadCheck >= reloadInterval else { return false }
            state.lastReloadCheck = now
            return true
        }
        guard due else { return }
        let stamp = Self.stamp(of: path)
        guard stamp != state.withLock({ $0.stamp }) else { return }
        do {
            let users = try Htpasswd.load(path: path)
            state.withLock { state in
                state.users = users
                state.stamp = stamp
                state.verified.removeAll()
            }
            logger.info("htpasswd file reloaded", metadata: ["auth.htpasswd": "\(path)", "auth.users": "\(users.entries.count)"])
        } catch {
            state.withLock { $0.stamp = stamp }
            logger.error("htpasswd file changed but cannot be used; keeping the users read before", metadata: ["error": "\(error)"])
        }
    }

    private static func stamp(of path: String) -> FileStamp? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let modified = attributes[.modificationDate] as? Date else { return nil }
        return FileStamp(modified: modified, size: (attributes[.size] as? Int) ?? 0)
    }
}

/// At most `width` holders at once; the others wait, first come first served.
final class AsyncGate: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(width: Int) {
        state = Mutex(State(free: width))
    }

    func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.free > 0 else {
                    state.waiters.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the place to the first waiter, if any.
    func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
