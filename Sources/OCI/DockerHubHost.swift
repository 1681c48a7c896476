/// Docker Hub's host names: the one users write, and the aliases that name the same registry.
/// One list, so the policy, ImageStreams, configuration and the upstream client agree.
public enum DockerHubHost {
    public static let canonical = "docker.io"
    private static let names: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]

    /// True for `docker.io` and its aliases (lowercase hosts).
    public static func isHub(_ host: String) -> Bool { names.contains(host) }

    /// `host` with Docker Hub's aliases folded into `docker.io`.
    public static func canonical(_ host: String) -> String { isHub(host) ? canonical : host }
}
