import Foundation
import OCI

/// What one upload purge found: Distribution's `storage.maintenance.uploadpurging`.
public struct UploadPurge: Sendable {
    /// Uploads older than the cutoff, removed (or, in a dry run, that would have been).
    public var expired: [StoragePath] = []
    /// Uploads that could not be looked at or removed; the next purge tries again.
    public var failures: [String] = []
}

extension ContentStore {
    /// Removes abandoned uploads, as Distribution's upload purger does: every
    /// `_uploads/<id>` whose `startedat` is before `cutoff` (Unix seconds). An upload with no
    /// readable `startedat` is dated by its directory's modification time. An upload a
    /// request is writing right now is left alone.
    ///
    /// - Parameter dryRun: report what would be removed, remove nothing.
    public func purgeUploads(startedBefore cutoff: Double, dryRun: Bool) async throws -> UploadPurge {
        var purge = UploadPurge()
        try await purgeUploads(below: StorageLayout.repositories, cutoff: cutoff, dryRun: dryRun, into: &purge)
        return purge
    }

    private func purgeUploads(below path: StoragePath, cutoff: Double, dryRun: Bool, into purge: inout UploadPurge) async throws {
        for child in try await driver.list(path) {
            if child == "_uploads" {
                for name in try await driver.list(path.appending(child)) {
                    try Task.checkCancellation()
                    let upload = path.appending(child, name)
                    do {
                        guard try await isExpiredUpload(upload, cutoff: cutoff) else { continue }
                        if let id = UploadID(name), uploads.sessions.withLock({ $0[id]?.isBusy == true }) { continue }
                        if !dryRun {
                            try await driver.delete(upload)
                            if let id = UploadID(name) { uploads.sessions.withLock { _ = $0.removeValue(forKey: id) } }
                        }
                        purge.expired.append(upload)
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        purge.failures.append("\(upload): \(error)")
                    }
                }
            } else if !child.hasPrefix("_") && !child.hasPrefix(".") {
                let next = path.appending(child)
                if try await driver.stat(next)?.isDirectory == true {
                    try await purgeUploads(below: next, cutoff: cutoff, dryRun: dryRun, into: &purge)
                }
                await Task.yield()
            }
        }
    }

    private func isExpiredUpload(_ upload: StoragePath, cutoff: Double) async throws -> Bool {
        guard let info = try await driver.stat(upload), info.isDirectory else { return false }
        if let bytes = try? await driver.getContent(upload.appending("startedat")),
           let started = Self.parseStartedAt(String(decoding: bytes, as: UTF8.self)) {
            return started < cutoff
        }
        return info.modifiedAt < cutoff
    }

    /// `startedat` as Distribution (RFC 3339, perhaps with fractional seconds) and Wharf write it.
    static func parseStartedAt(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: trimmed) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: trimmed)?.timeIntervalSince1970
    }
}
