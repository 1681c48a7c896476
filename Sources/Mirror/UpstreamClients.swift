import Foundation
import HTTPClient
import OCI
import Policy
import Synchronization
import Upstream

/// One `RegistryClient` per upstream registry (configured, or reached through `?ns=`), sharing
/// libcurl clients, so tokens and connections are reused across requests.
///
/// The network rule: a registry the operator listed (`mirror.upstreams`, `mirror.default`,
/// `proxy.remoteurl`, an ImageStream's candidates) may be on any address, and so may a listed
/// registry's token realm; every other host (unlisted registries, redirect hops to hosts not
/// listed) is reached only on public addresses. Listed and unlisted registries use separate
/// connection pools, so a connection opened to an internal address for a listed registry is
/// never reused for an unlisted one that happens to share its name.
final class UpstreamClients: Sendable {
    private let configuration: MirrorConfiguration
    private let listedHTTP: HTTPClient
    private let unlistedHTTP: HTTPClient
    private let policy: LivePolicy
    private let clients = Mutex<[ClientKey: RegistryClient]>([:])
    /// Hosts (as connections name them) that may be on internal addresses: the listed registries.
    private let listedHosts: Set<String>

    /// Clients differ by registry, and by the credentials, TLS leniency and listing a route brings.
    private struct ClientKey: Hashable {
        var registry: String
        var credentials: Credentials?
        var insecure: Bool
        var listed: Bool
    }

    static let capacity = 1024

    init(configuration: MirrorConfiguration, policy: LivePolicy) throws {
        self.configuration = configuration
        self.policy = policy
        self.listedHTTP = try HTTPClient(configuration: .init(certsDirectory: configuration.certsDirectory))
        self.unlistedHTTP = try HTTPClient(configuration: .init(certsDirectory: configuration.certsDirectory))
        let listed = configuration.upstreams.map(\.registry) + (configuration.defaultRegistry.map { [$0] } ?? [])
        self.listedHosts = Set(listed.flatMap { Self.connectionHosts($0) })
    }

    /// Whether the operator's configuration names `registry` as an upstream.
    func isListed(_ registry: String) -> Bool {
        registry == configuration.defaultRegistry || configuration.upstream(for: registry) != nil
    }

    /// `registry` as connections name it: itself, and Docker Hub's API host for `docker.io`.
    private static func connectionHosts(_ registry: String) -> [String] {
        let lower = registry.lowercased()
        let api = DockerHub.apiHost(for: lower).lowercased()
        return api == lower ? [lower] : [lower, api]
    }

    /// The client for a route: its registry's, or one with the route's own credentials.
    func client(for route: MirrorRoute) -> RegistryClient {
        client(for: route.registry, credentials: route.credentials, insecure: route.insecure, listed: route.listed)
    }

    /// True when a route's fetches carry credentials (its own, or its upstream's configured
    /// ones): what they bring back may be private (see `ContentStore.markPrivate`).
    func usesCredentials(_ route: MirrorRoute) -> Bool {
        if route.credentials != nil { return true }
        guard let upstream = configuration.upstream(for: route.registry) else { return false }
        return upstream.username != nil || upstream.authFile != nil
    }

    func client(for registry: String, credentials: Credentials? = nil, insecure: Bool = false, listed: Bool = false) -> RegistryClient {
        let isListed = listed || isListed(registry)
        let key = ClientKey(registry: registry, credentials: credentials, insecure: insecure, listed: isListed)
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            // `?ns=` reaches any allowed registry: the table is bounded, and a client dropped from it
            // keeps serving the requests that hold it (the next request makes a new one).
            if clients.count >= Self.capacity { clients.removeAll(keepingCapacity: true) }
            var settings = RegistryClientConfiguration(registry: registry)
            settings.insecure = insecure || configuration.isInsecure(registry)
            settings.addressRule = AddressRule(exemptHosts: listedHosts.union(isListed ? Self.connectionHosts(registry) : []))
            settings.exemptRealmAddresses = isListed
            settings.redirectRule = { [policy] hop in Self.policyRefusal(policy.current, hop: hop) }
            settings.scheme = configuration.upstream(for: registry)?.scheme
            if let credentials {
                settings.credentials = credentials
            } else if let upstream = configuration.upstream(for: registry) {
                if let username = upstream.username {
                    settings.credentials = Credentials(username: username, password: upstream.password ?? "")
                } else if let file = upstream.authFile {
                    settings.credentials = (try? CredentialStore(contentsOfFile: file))?.credentials(for: registry)
                }
            }
            let client = RegistryClient(configuration: settings, http: isListed ? listedHTTP : unlistedHTTP)
            clients[key] = client
            return client
        }
    }

    func shutdown() {
        listedHTTP.shutdown()
        unlistedHTTP.shutdown()
    }

    /// Why the policy refuses a redirect hop: a registry-wide `block` rule matches its host.
    /// (Repository rules do not apply to a hop, which names no repository; nor does
    /// `default: block`, so blob CDNs need no allow rule of their own.)
    static func policyRefusal(_ policy: RegistryPolicy, hop: RedirectHop) -> String? {
        let host = hop.host.contains(":") ? "[\(hop.host)]" : hop.host
        let authority = "\(host):\(hop.port)"
        guard let rule = policy.rules.first(where: {
            $0.action == .block && $0.pattern.repositoryGlob == nil && $0.pattern.matches(registry: authority, repository: nil)
        }) else { return nil }
        return "\(hop.host) is blocked by the policy rule block \"\(rule.pattern)\" (policy.registries.block[\(rule.index)])"
    }
}

extension UpstreamError {
    /// What a client of the mirror is told: an OCI error that names the upstream.
    func registryError(notFound: RegistryError.Code) -> RegistryError {
        switch code {
        case .notFound:
            return RegistryError(notFound, "\(message) (upstream \(registry))")
        case .unauthorized:
            return RegistryError(.unauthorized, "upstream \(registry) refused Wharf's credentials: \(message)")
        case .denied:
            return RegistryError(.denied, "upstream \(registry) denied access: \(message)")
        case .tooManyRequests:
            let seconds = retryAfter.map { String($0.components.seconds) }
            return RegistryError(.tooManyRequests, "upstream \(registry) is rate limiting: \(message)",
                                 headers: seconds.map { [("Retry-After", $0)] } ?? [])
        case .timeout:
            return RegistryError(.unavailable, "upstream \(registry) timed out: \(message)", status: 504)
        case .digestMismatch:
            return RegistryError(.unavailable, "upstream \(registry) sent content that does not match its digest: \(message)", status: 502)
        case .refused:
            return RegistryError(.denied, "upstream \(registry) is refused: \(message)")
        case .invalidResponse:
            return RegistryError(.unavailable, "upstream \(registry) sent an invalid answer: \(message)", status: 502)
        default:
            return RegistryError(.unavailable, "upstream \(registry) is unavailable (\(code)): \(message)", status: 502)
        }
    }

    /// Worth another try: the connection, not the content, failed.
    var isTransient: Bool {
        [.connect, .timeout, .unavailable, .io, .other, .invalidResponse].contains(code)
    }
}
