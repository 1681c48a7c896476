import OCI

/// The repository a request reaches, as the auth rules judge it: where its content comes from,
/// not how the URL spelled it (`?ns=`, a `host/` prefix, a bare name under the default upstream).
struct ResolvedRepository: Sendable, Equatable {
    /// `registry/repository` for a mirrored repository (`docker.io/library/ubuntu`,
    /// `quay.io/team/app`, `127.0.0.1_5000/x`), the name for a local one.
    var qualified: String
    /// The name its content is stored under (`library/ubuntu` for the default registry's).
    var local: String
    /// The name the request wrote.
    var requested = ""
    /// True when `requested` alone (no `?ns=`) reaches the same content.
    var plainNameReachesIt = true

    init(qualified: String, local: String) {
        self.qualified = qualified
        self.local = local
        self.requested = qualified
    }

    /// The name a token scope names: the plain one when it alone reaches this content.
    var scopeName: String { plainNameReachesIt ? requested : qualified }

    /// A repository nothing routes: local, or judged by its plain name.
    init(_ name: String) { self.init(qualified: name, local: name) }
}

/// A repository pattern of the auth rules: a `RepositoryGlob`, optionally starting with a
/// registry (`docker.io/library/*`, `quay.io/team/**`, `registry.example_5000/**`).
///
/// A pattern naming a registry (its first segment is a host, in any spelling `RegistryHost`
/// reads; written `host_port` or `host:port`) matches a repository's qualified name, so it
/// covers that registry's content however a request reaches it. A pattern without one matches
/// the name content is stored under: local repositories, the default registry's repositories by
/// their bare names (`library/*`), other registries' as `host/…` (`quay.io/**` works too).
struct RepositoryPattern: Sendable, CustomStringConvertible {
    let glob: RepositoryGlob
    let namesRegistry: Bool

    init?(_ text: some StringProtocol) {
        var text = String(text)
        var namesRegistry = false
        if let slash = text.firstIndex(of: "/"), !text[..<slash].contains("*") {
            let first = text[..<slash].replacingColons()
            switch RegistryHost.pathComponent(first) {
            case .registry(let registry):
                guard let path = RegistryHost.pathForm(registry) else { return nil }
                text = path + text[slash...]
                namesRegistry = true
            case .invalid:
                return nil
            case .repository:
                break
            }
        }
        guard let glob = RepositoryGlob(text) else { return nil }
        self.glob = glob
        self.namesRegistry = namesRegistry
    }

    var description: String { glob.text }

    func matches(_ name: String) -> Bool { matches(ResolvedRepository(name)) }

    func matches(_ repository: ResolvedRepository) -> Bool {
        glob.matches(namesRegistry ? repository.qualified : repository.local)
    }
}

extension Substring {
    /// `host:port` as `host_port`.
    fileprivate func replacingColons() -> String { String(map { $0 == ":" ? "_" : $0 }) }
}

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
        actions(for: user, on: ResolvedRepository(repository))
    }

    func actions(for user: String?, on repository: ResolvedRepository) -> Set<RepositoryAction> {
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

    func allows(_ user: String?, _ action: RepositoryAction, on repository: ResolvedRepository) -> Bool {
        actions(for: user, on: repository).contains(action)
    }

    /// The catalog is open to every authenticated user, and to anonymous clients when some
    /// repositories are public; either way it lists only what the client may pull.
    func mayListCatalog(_ user: String?) -> Bool {
        user != nil || !anonymousPull.isEmpty
    }
}
