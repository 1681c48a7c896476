import Foundation
import HTTPClient
import OCI
import Synchronization
import Upstream

/// One `RegistryClient` per upstream registry (configured, or reached through `?ns=`), sharing
/// one libcurl client, so tokens and connections are reused across requests.
final class UpstreamClients: Sendable {
    private let configuration: MirrorConfiguration
    private let http: HTTPClient
    private let clients = Mutex<[ClientKey: RegistryClient]>([:])

    /// Clients differ by registry, and by the credentials and TLS leniency a route brings.
    private struct ClientKey: Hashable {
        var registry: String
        var credentials: Credentials?
        var insecure: Bool
    }

    init(configuration: MirrorConfiguration) throws {
        self.configuration = configuration
        self.http = try HTTPClient(configuration: .init(certsDirectory: configuration.certsDirectory))
    }

    /// The client for a route: its registry's, or one with the route's own credentials.
    func client(for route: MirrorRoute) -> RegistryClient {
        client(for: route.registry, credentials: route.credentials, insecure: route.insecure)
    }

    /// True when a route's fetches carry credentials (its own, or its upstream's configured
    /// ones): what they bring back may be private (see `ContentStore.markPrivate`).
    func usesCredentials(_ route: MirrorRoute) -> Bool {
        if route.credentials != nil { return true }
        guard let upstream = configuration.upstream(for: route.registry) else { return false }
        return upstream.username != nil || upstream.authFile != nil
    }

    func client(for registry: String, credentials: Credentials? = nil, insecure: Bool = false) -> RegistryClient {
        let key = ClientKey(registry: registry, credentials: credentials, insecure: insecure)
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var settings = RegistryClientConfiguration(registry: registry)
            settings.insecure = insecure || configuration.isInsecure(registry)
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
            let client = RegistryClient(configuration: settings, http: http)
            clients[key] = client
            return client
        }
    }

    func shutdown() { http.shutdown() }
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
        default:
            return RegistryError(.unavailable, "upstream \(registry) is unavailable (\(code)): \(message)", status: 502)
        }
    }

    /// Worth another try: the connection, not the content, failed.
    var isTransient: Bool {
        [.connect, .timeout, .unavailable, .io, .other, .invalidResponse].contains(code)
    }
}
