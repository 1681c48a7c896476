import Mirror
import NIOHTTP1
import OCI

extension RegistryHandler {
    /// A repository that routes to an upstream is the upstream's: read-only here, as
    /// Distribution's proxy is. A push, upload or delete gets 405 `UNSUPPORTED`, so nothing a
    /// client sends can be served as an upstream's content. Repositories with an ImageStream
    /// (`mirrorRoute` gives them no route) and names carved out by `mirror.localrepositories`
    /// stay writable.
    func refuseWritesToMirrored(_ route: RegistryRoute, _ request: HTTPRequest) throws {
        guard [.PUT, .POST, .PATCH, .DELETE].contains(request.method), let name = route.repositoryName,
              let mirrored = try mirrorRoute(name, request) else { return }
        throw RegistryError(.unsupported,
                            "\(name) is mirrored from \(mirrored): it is read-only here (push under a local name; mirror.localrepositories lists them)",
                            detailJSON: #"{"name":\#(JSONText.string(name.value)),"upstream":\#(JSONText.string(mirrored.description))}"#)
    }

    /// The repository a request's name (and `?ns=`) reaches, as the auth rules see it. A name
    /// whose route cannot be made (unlisted registry, bad `ns`) is judged by its plain name: the
    /// request is refused later anyway. The registry policy is not asked here (it refuses later).
    func resolvedRepository(_ name: RepositoryName, namespace: String?) -> ResolvedRepository {
        func resolve(_ namespace: String?) -> ResolvedRepository {
            guard let mirror, mirror.imageStream(for: name) == nil,
                  let route = try? mirror.resolve(name, namespace: namespace) else {
                return ResolvedRepository(qualified: name.value, local: name.value)
            }
            let registry = RegistryHost.pathForm(route.registry) ?? route.registry
            return ResolvedRepository(qualified: "\(registry)/\(route.upstreamRepository)", local: route.localRepository.value)
        }
        var resolved = resolve(namespace)
        resolved.requested = name.value
        // A token names the plain name; it covers this request only if that name, alone,
        // reaches the same content (`?ns=` may send the same name elsewhere).
        resolved.plainNameReachesIt = namespace == nil || resolve(nil) == ResolvedRepository(qualified: resolved.qualified, local: resolved.local)
        return resolved
    }

    /// Resolves names with `request`'s `?ns=` (nil: as a plain name, e.g. a token scope's).
    func resolver(for request: HTTPRequest?) -> AccessControl.Resolver {
        let namespace = request?.queryValue("ns")
        return { [self] name in resolvedRepository(name, namespace: namespace) }
    }

    /// The repository a mount's `from` names in the store: a mirrored one is stored under its
    /// route's local name (`alpine` under `library/alpine`).
    func storedRepository(_ name: RepositoryName) -> RepositoryName {
        guard let mirror, mirror.imageStream(for: name) == nil, let route = try? mirror.resolve(name, namespace: nil) else { return name }
        return route.localRepository
    }
}

extension RegistryRoute {
    /// The repository the route names, if any.
    var repositoryName: RepositoryName? {
        switch self {
        case .base, .catalog: return nil
        case .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _), .tags(let name), .referrers(let name, _):
            return name
        }
    }
}
