// The request-path router: a request target (path and query) as the server reads it
// (HTTPRequest), RegistryRoute.parse, the metrics label (RequestRoute), and the mirror's
// mapping of the parsed name and `?ns=` to an upstream (MirrorRouter).
//
// Asserts: a parsed route renders back to a path that parses to the same route, and the
// metrics label names the same kind of route.
import Mirror
import OCI
import Server

private let router: MirrorRouter = {
    var configuration = MirrorConfiguration()
    configuration.defaultRegistry = "docker.io"
    configuration.allowUnlisted = true
    var local = MirrorConfiguration.Upstream(registry: "localhost:5000")
    local.insecure = true
    configuration.upstreams = [.init(registry: "docker.io"), .init(registry: "ghcr.io"), local]
    return MirrorRouter(configuration: configuration)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let target = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let request = HTTPRequest(method: .GET, uri: target, headers: [:])
    let label = RequestRoute(path: request.path)
    guard case .success(let route) = RegistryRoute.parse(request.path) else { return 0 }
    precondition(label.rawValue == route.kind, "metrics label \(label) for a \(route.kind) route")
    let rendered = render(route)
    precondition(RegistryRoute.parse(rendered[...]) == .success(route), "\(route) renders as \(rendered), which parses differently")
    if let name = route.name {
        if let mirrored = try? router.route(name, namespace: request.queryValue("ns")) {
            _ = (mirrored.description, mirrored.localRepository)
        }
    }
    return 0
}

private func render(_ route: RegistryRoute) -> String {
    switch route {
    case .base: "/v2/"
    case .catalog: "/v2/_catalog"
    case .manifest(let name, let reference): "/v2/\(name)/manifests/\(reference)"
    case .blob(let name, let digest): "/v2/\(name)/blobs/\(digest)"
    case .uploads(let name): "/v2/\(name)/blobs/uploads/"
    case .upload(let name, let id): "/v2/\(name)/blobs/uploads/\(id)"
    case .tags(let name): "/v2/\(name)/tags/list"
    case .referrers(let name, let digest): "/v2/\(name)/referrers/\(digest)"
    }
}

extension RegistryRoute {
    fileprivate var name: RepositoryName? {
        switch self {
        case .base, .catalog: nil
        case .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _),
             .tags(let name), .referrers(let name, _): name
        }
    }
}
