// `WWW-Authenticate` values from an upstream's 401 (AuthChallenge.parse), the input being one
// header value. Asserts what callers rely on: schemes and parameter names come out lowercased.
import Upstream

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let header = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for challenge in AuthChallenge.parse(header) {
        precondition(!challenge.scheme.isEmpty, "a challenge without a scheme")
        precondition(challenge.scheme == challenge.scheme.lowercased(), "scheme \(challenge.scheme) not lowercased")
        for name in challenge.parameters.keys {
            precondition(name == name.lowercased(), "parameter \(name) not lowercased")
        }
        _ = (challenge.isBearer, challenge.realm, challenge.service, challenge.scope, challenge.error)
    }
    return 0
}
