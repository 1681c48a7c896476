// Temporary executable: runs `wharf check-upstream` without the root command, which another
// branch owns. CheckUpstreamCommand.swift here is a symlink to Sources/wharf/CheckUpstreamCommand.swift.
// Remove this target when the root command registers CheckUpstreamCommand.
import ArgumentParser

do {
    let command = try CheckUpstreamCommand.parse()
    try await command.run()
} catch {
    CheckUpstreamCommand.exit(withError: error)
}
