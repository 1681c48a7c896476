import OCI

/// The auth rules' repository patterns are the shared `RepositoryGlob`.
typealias RepositoryPattern = RepositoryGlob

/// Who may pull, push and delete where: Wharf's `auth.access` section.
///
/// Without rules (no `auth.access.rules`), every user of the htpasswd file may do everything,
/// as with Distribution's htpasswd auth. With rules, a user gets the union of what every
/// rule matching the repository grants them; `read` is pull, `write` is push and delete
/// (and pull). `"*"` in a rule's user list stands for every authenticated user. Anonymous
/// clients may only pull, and only where `anonymousPull` says.
struct AccessPolicy: Sendable {
    struct Rule: Sendable {
        var repositories: [RepositoryPattern]
        var readers: Set<String> = []
        var writers: Set<String> = []

        func grants(_ user: String, _ list: Set<String>) -> Bool { list.contains(user) || list.contains("*") }
    }

    /// Nil: every authenticated user may do everything.
    var rules: [Rule]?
    /// Repositories anyone may pull without credentials.
    var anonymousPull: [RepositoryPattern] = []

    /// What `user` (nil: anonymous) may do to `repository`.
    func actions(for user: String?, on repository: String) -> Set<RepositoryAction> {
        guard let user else {
            return anonymousPull.contains { $0.matches(repository) } ? [.pull] : []
        }
        guard let rules else { return Set(RepositoryAction.allCases) }
        var actions: Set<RepositoryAction> = []
        for rule in rules where rule.repositories.contains(where: { $0.matches(repository) }) {
            if rule.grants(user, rule.writers) { return Set(RepositoryAction.allCases) }
            if rule.grants(user, rule.readers) { actions.insert(.pull) }
        }
        if anonymousPull.contains(where: { $0.matches(repository) }) { actions.insert(.pull) }
        return actions
    }

    func allows(_ user: String?, _ action: RepositoryAction, on repository: String) -> Bool {
        actions(for: user, on: repository).contains(action)
    }

    /// The catalog is open to every authenticated user, and to anonymous clients when some
    /// repositories are public; either way it lists only what the client may pull.
    func mayListCatalog(_ user: String?) -> Bool {
        user != nil || !anonymousPull.isEmpty
    }
}
