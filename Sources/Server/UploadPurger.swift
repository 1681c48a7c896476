import Foundation
import Logging
import Storage

/// `storage.maintenance.uploadpurging`, as Distribution defines it: abandoned uploads (started
/// more than `age` ago) are removed at start-up and every `interval`.
public struct UploadPurging: Sendable, Equatable {
    public var enabled = true
    public var age: Duration = .seconds(168 * 3600)
    public var interval: Duration = .seconds(24 * 3600)
    /// Log what would be removed; remove nothing.
    public var dryRun = false

    public init() {}
}

/// Runs `UploadPurging` until cancelled.
struct UploadPurger: Sendable {
    let store: ContentStore
    let settings: UploadPurging
    let logger: Logger

    func run() async {
        repeat {
            await purgeOnce()
        } while (try? await Task.sleep(for: settings.interval)) != nil
    }

    func purgeOnce() async {
        let cutoff = Date().timeIntervalSince1970 - Self.seconds(settings.age)
        do {
            let purge = try await store.purgeUploads(startedBefore: cutoff, dryRun: settings.dryRun)
            for failure in purge.failures.prefix(10) {
                logger.warning("upload purge skipped an upload; the next purge tries again", metadata: ["upload": "\(failure)"])
            }
            guard !purge.expired.isEmpty else { return }
            if settings.dryRun {
                for upload in purge.expired.prefix(100) {
                    logger.info("upload purge (dry run) would remove an abandoned upload", metadata: ["upload": "\(upload)"])
                }
            }
            logger.info(settings.dryRun ? "upload purge (dry run) found abandoned uploads" : "upload purge removed abandoned uploads",
                        metadata: ["uploads": "\(purge.expired.count)", "age": "\(settings.age)"])
        } catch is CancellationError {
            return
        } catch {
            logger.error("upload purge failed; trying again next interval", metadata: ["error": "\(error)"])
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
