import HTTPClient
import OCI

/// One step of `wharf check-upstream`, for people to read.
public struct CheckStep: Sendable, CustomStringConvertible {
    public enum Outcome: String, Sendable { case ok = "ok", failed = "FAILED", skipped = "skipped", info = "info" }
    /// `target`, `tls`, `connect`, `challenge`, `credentials`, `token`, `manifest`.
    public var name: String
    public var outcome: Outcome
    public var detail: String
    public var description: String { "[\(outcome.rawValue)] \(name): \(detail)" }
}

/// The steps of an upstream check and, on failure, the error of the step that failed.
public struct CheckReport: Sendable {
    public var steps: [CheckStep] = []
    public var failure: UpstreamError?
    public var failedStep: String? { steps.first { $0.outcome == .failed }?.name }
    public var succeeded: Bool { failure == nil }
    /// Token requests sent (the token itself is never reported).
    public var tokenRequests = 0
}

/// Inputs of an upstream check.
public struct CheckOptions: Sendable {
    /// Docker-style `certs.d` directory: `<caDirectory>/<host[:port]>/*.crt`.
    public var caDirectory: String?
    public var credentials: Credentials?
    /// Where the credentials came from ("--username", "auth file /x/config.json"), for the report.
    public var credentialSource: String?
    public var insecure: Bool = false
    public var timeouts: HTTPTimeouts = HTTPTimeouts(connect: .seconds(10), lowSpeedLimit: 1, lowSpeedTime: .seconds(20))

    public init(caDirectory: String? = nil, credentials: Credentials? = nil, credentialSource: String? = nil, insecure: Bool = false) {
        self.caDirectory = caDirectory
        self.credentials = credentials
        self.credentialSource = credentialSource
        self.insecure = insecure
    }
}

/// Checks that `target` can be pulled from: trust, ping, auth challenge, token, manifest. Runs
/// without a server; each step says what it did, and the first failing step says why.
public func checkUpstream(_ target: UpstreamTarget, options: CheckOptions) async -> CheckReport {
    var report = CheckReport()
    func step(_ name: String, _ outcome: CheckStep.Outcome, _ detail: String) {
        report.steps.append(CheckStep(name: name, outcome: outcome, detail: detail))
    }
    func fail(_ name: String, _ error: UpstreamError) {
        step(name, .failed, error.message)
        report.failure = error
    }

    let http: HTTPClient
    do {
        http = try HTTPClient(configuration: HTTPClient.Configuration(certsDirectory: options.caDirectory))
    } catch {
        fail("setup", UpstreamError(.other, "cannot start the HTTP client: \(error)", registry: target.registry))
        return report
    }
    defer { http.shutdown() }

    var configuration = RegistryClientConfiguration(registry: target.registry, credentials: options.credentials, insecure: options.insecure)
    configuration.timeouts = options.timeouts
    let client = RegistryClient(configuration: configuration, http: http)
    let apiHost = client.apiHost

    var what = "registry \(target.registry)"
    if apiHost != target.registry { what += " (API host \(apiHost))" }
    if let repository = target.repository { what += ", repository \(repository)" }
    if let reference = target.reference { what += ", reference \(reference)" }
    step("target", .info, what)

    // Trust, as it will apply to https://apiHost.
    let candidates = SchemePolicy.candidates(registryHost: apiHost, insecure: options.insecure)
    let trust = http.trustInfo(for: "https://\(apiHost)/")
    var tlsDetail: String
    if options.insecure {
        tlsDetail = "insecure: certificate verification off; plain HTTP allowed after HTTPS"
    } else {
        tlsDetail = "system bundle \(trust.systemBundle ?? "(none found)")"
        if let dir = trust.searchedDirectory {
            tlsDetail += "; CA directory searched: \(dir) (" + (trust.caFiles.isEmpty ? "no *.crt files" : trust.caFiles.joined(separator: ", ")) + ")"
        } else {
            tlsDetail += "; no CA directory configured"
        }
        if candidates.count > 1 { tlsDetail += "; loopback registry: plain HTTP allowed if it does not speak TLS" }
    }
    step("tls", .info, tlsDetail)

    // Ping.
    let endpoint: RegistryEndpoint
    do {
        endpoint = try await client.ping()
    } catch {
        fail("connect", error)
        return report
    }
    var connectDetail = "GET \(endpoint.baseURL)/v2/ answered \(endpoint.pingStatus) over HTTP/\(endpoint.httpVersion)"
    if endpoint.baseURL.hasPrefix("https") && endpoint.tls.verifyPeer { connectDetail += "; certificate trusted" }
    for fallback in endpoint.fallbacks { connectDetail += "; tried first: \(fallback)" }
    if let api = endpoint.apiVersion { connectDetail += "; \(api)" }
    step("connect", .ok, connectDetail)

    // Challenge.
    if let challenge = endpoint.challenge {
        var parts = ["\(challenge.isBearer ? "Bearer" : challenge.isBasic ? "Basic" : challenge.scheme)"]
        if let realm = challenge.realm { parts.append("realm=\"\(realm)\"") }
        if let service = challenge.service { parts.append("service=\"\(service)\"") }
        if let scope = challenge.scope { parts.append("scope=\"\(scope)\"") }
        step("challenge", .info, parts.joined(separator: " "))
    } else {
        step("challenge", .info, "none: the registry allows anonymous access to /v2/")
    }

    // Credentials.
    if let credentials = options.credentials {
        step("credentials", .info, "user \(credentials.username)" + (options.credentialSource.map { " (from \($0))" } ?? ""))
    } else {
        step("credentials", .info, "none: anonymous" + (options.credentialSource.map { " (\($0))" } ?? ""))
    }

    guard let repository = target.repository else {
        step("manifest", .skipped, "no repository given")
        return report
    }
    let scope = "repository:\(repository):pull"

    // Token.
    if let challenge = endpoint.challenge, challenge.isBearer {
        do {
            _ = try await client.bearerToken(scope: scope, challenge: challenge)
            let grant = await client.lastGrant
            var detail = "GET \(challenge.realm ?? "?")?service=\(challenge.service ?? "")&scope=\(scope)"
            detail += options.credentials.map { " as \($0.username)" } ?? " anonymously"
            detail += " → token received (not shown)"
            if let expires = grant?.expiresIn { detail += ", expires_in \(expires) s" } else { detail += ", no expires_in (60 s assumed)" }
            step("token", .ok, detail)
        } catch {
            var error = error
            if error.code == .unauthorized {
                error.message = (options.credentials == nil ? "the token server requires credentials: " : "wrong credentials: ") + error.message
            }
            fail("token", error)
            return report
        }
    } else if endpoint.challenge?.isBasic == true {
        step("token", .skipped, "the registry asks for Basic auth: credentials go with every request" + (options.credentials == nil ? " (none configured)" : ""))
    } else {
        step("token", .skipped, "no token needed")
    }

    // Manifest.
    let reference = target.reference ?? .tag(Tag("latest")!)
    do {
        let manifest = try await client.manifest(repository, reference)
        var detail = "\(manifest.digest) \(manifest.mediaType ?? "(no Content-Type)") \(manifest.size) bytes, digest verified"
        if manifest.headerDigest == nil { detail += " (no Docker-Content-Digest header)" }
        step("manifest", .ok, detail)
    } catch {
        var error = error
        switch error.code {
        case .notFound:
            let repositoryMissing: Bool
            if error.registryCodes.contains("NAME_UNKNOWN") {
                repositoryMissing = true
            } else {
                repositoryMissing = (try? await client.repositoryExists(repository)) == false
            }
            if repositoryMissing {
                error.message = "repository \(repository) not found on \(target.registry) (NAME_UNKNOWN)"
            } else if error.registryCodes.contains("MANIFEST_UNKNOWN") {
                error.message = "manifest \(reference) not found in repository \(repository) on \(target.registry) (MANIFEST_UNKNOWN)"
            }
        case .unauthorized:
            error.message = (options.credentials == nil ? "credentials required: " : "wrong credentials: ") + error.message
        case .tooManyRequests:
            error.message = "rate limited by \(target.registry)" + (error.retryAfter.map { "; retry after \($0.components.seconds) s" } ?? "")
        default: break
        }
        fail("manifest", error)
    }
    report.tokenRequests = await client.tokenRequests
    return report
}
