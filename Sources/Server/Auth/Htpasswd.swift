import Foundation

/// The users of an htpasswd file (`auth.htpasswd.path`): one `user:hash` a line, as
/// `htpasswd -B` writes them. Only bcrypt entries are accepted, as in Distribution.
struct Htpasswd: Sendable, Equatable {
    /// User name → bcrypt hash.
    let entries: [String: String]
    /// A stored hash to check an unknown user's password against (the result is ignored).
    let decoy: String?

    /// Parses the file's text. `source` names the file in errors. Blank lines and lines
    /// starting with `#` are skipped.
    init(text: String, source: String) throws(ConfigurationError) {
        var entries: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let place = "\(source) line \(index + 1)"
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw ConfigurationError("\(place): not a user:hash entry")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            // The hash itself is never echoed: it is a secret too.
            guard Bcrypt.isHash(hash) else {
                throw ConfigurationError("\(place) (user \"\(user)\"): not a bcrypt hash; only bcrypt entries are supported "
                    + "(make them with htpasswd -B)")
            }
            if let cost = Bcrypt.cost(of: hash), cost > Bcrypt.maximumCost {
                throw ConfigurationError("\(place) (user \"\(user)\"): bcrypt cost \(cost) is above the most Wharf verifies "
                    + "(\(Bcrypt.maximumCost)); make the entry again with htpasswd -B -C \(Bcrypt.maximumCost) or less")
            }
            guard entries[user] == nil else { throw ConfigurationError("\(place): user \"\(user)\" is listed twice") }
            entries[user] = hash
        }
        self.entries = entries
        // The costliest entry: an unknown user is checked against it, so that a wrong name
        // takes as long as a wrong password and the time says nothing about who exists.
        self.decoy = entries.values.max { (Bcrypt.cost(of: $0) ?? 0, $0) < (Bcrypt.cost(of: $1) ?? 0, $1) }
    }

    /// Reads and parses the file at `path`.
    static func load(path: String) throws(ConfigurationError) -> Htpasswd {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("auth.htpasswd.path: cannot read \(path)")
        }
        return try Htpasswd(text: String(decoding: data, as: UTF8.self), source: path)
    }
}
