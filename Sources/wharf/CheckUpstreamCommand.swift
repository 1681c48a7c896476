import ArgumentParser
import Foundation
import Upstream

/// `wharf check-upstream <registry>[/<repository>[:<tag>|@<digest>]]`: checks, without a server,
/// that Wharf could pull from an upstream, and says which step fails and why.
struct CheckUpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-upstream",
        abstract: "Check that an upstream registry can be reached, trusted, authenticated to and pulled from.",
        discussion: """
            Prints each step: TLS trust (which CA directory was searched), the registry's auth challenge, \
            the token request (never the token), and the manifest's digest and media type. Exits 1 at the \
            first failing step, saying why. Registries on loopback addresses and those given --insecure may \
            be reached over plain HTTP after HTTPS was tried.
            """
    )

    @Argument(help: "registry[/repository[:tag|@digest]], e.g. docker.io/alpine:3.20 or localhost:5000/team/app@sha256:…")
    var target: String

    @Option(name: .customLong("ca-dir"),
            help: "Docker-style certs.d directory: <dir>/<host[:port]>/*.crt are trusted besides the system bundle (the layout Docker, podman and CRI-O use; default shared with podman/CRI-O).")
    var caDirectory: String = "/etc/containers/certs.d"

    @Option(help: "User name for the registry (with --password or WHARF_UPSTREAM_PASSWORD).")
    var username: String?

    @Option(help: "Password for --username. Prefer WHARF_UPSTREAM_PASSWORD: arguments show in ps.")
    var password: String?

    @Option(name: .customLong("auth-file"), help: "A Docker config.json whose `auths` holds credentials for the registry.")
    var authFile: String?

    @Flag(help: "Skip TLS verification and allow plain HTTP (a registry listed insecure).")
    var insecure = false

    func run() async throws {
        guard let parsed = UpstreamTarget(parsing: target) else {
            throw ValidationError("'\(target)' is not registry[/repository[:tag|@digest]]")
        }
        var credentials: Credentials?
        var source: String?
        if let username {
            guard let secret = password ?? ProcessInfo.processInfo.environment["WHARF_UPSTREAM_PASSWORD"] else {
                throw ValidationError("--username needs --password or WHARF_UPSTREAM_PASSWORD")
            }
            credentials = Credentials(username: username, password: secret)
            source = "--username"
        } else if let authFile {
            let store = try CredentialStore(contentsOfFile: authFile)
            credentials = store.credentials(for: parsed.registry)
            source = credentials == nil ? "no entry for \(parsed.registry) in \(authFile)" : "auth file \(authFile)"
        }
        let options = CheckOptions(caDirectory: caDirectory, credentials: credentials, credentialSource: source, insecure: insecure)

        let report = await checkUpstream(parsed, options: options)
        for step in report.steps { print(step) }
        if let failure = report.failure {
            print("check-upstream: FAILED at step '\(report.failedStep ?? "?")' (\(failure.code)): \(failure.message)")
            throw ExitCode(1)
        }
        print("check-upstream: OK")
    }
}
