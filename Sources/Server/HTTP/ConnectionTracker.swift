import NIOCore
import Synchronization

/// The server's open connections and whether each is in the middle of a request, so that a
/// drain can close the idle ones at once and let the busy ones finish their response.
final class ConnectionTracker: Sendable {
    private struct Entry {
        var channel: any Channel
        var flushes: ResponseFlushes
        var busy = false
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var draining = false
    }

    private let state = Mutex(State())

    /// Adds a new connection. - Returns: false when draining (the caller closes it unserved).
    func register(_ channel: any Channel, flushes: ResponseFlushes) -> Bool {
        state.withLock { state in
            guard !state.draining else { return false }
            state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, flushes: flushes)
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// A request has arrived on `channel`.
    func requestStarted(on channel: any Channel) {
        state.withLock { $0.entries[ObjectIdentifier(channel)]?.busy = true }
    }

    /// The response has been written. - Returns: true when the connection should close now (draining).
    func requestEnded(on channel: any Channel) -> Bool {
        state.withLock { state in
            state.entries[ObjectIdentifier(channel)]?.busy = false
            return state.draining
        }
    }

    var isDraining: Bool { state.withLock { $0.draining } }

    /// Takes no new connections; closes those between requests once their last response is
    /// out. Busy ones close after their response.
    func drain() {
        let idle = state.withLock { state -> [Entry] in
            state.draining = true
            return state.entries.values.filter { !$0.busy }
        }
        for entry in idle { entry.flushes.closeWhenWritten(entry.channel) }
    }

    /// Closes every connection, busy or not (the drain's deadline has passed).
    func closeAll() {
        let all = state.withLock { state -> [any Channel] in
            state.draining = true
            return state.entries.values.map(\.channel)
        }
        for channel in all { channel.close(promise: nil) }
    }
}
