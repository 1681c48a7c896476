// Manifest and index bodies (Manifest(bytes:declaredType:)), as a client pushes them and an
// upstream serves them. Input: the body, optionally preceded by one line with the declared
// Content-Type (any first line not starting with `{`).
//
// Asserts what storage and serving rely on for an accepted manifest: every descriptor has a
// valid digest and a non-negative size, an image manifest has a config, and the blobs it
// references are its own config and layers.
import OCI

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var body = Array(UnsafeBufferPointer(start: data, count: size))[...]
    var declared: String?
    if body.first != UInt8(ascii: "{"), let newline = body.firstIndex(of: UInt8(ascii: "\n")) {
        declared = String(decoding: body[..<newline], as: UTF8.self)
        body = body[(newline + 1)...]
    }
    _ = declared.map(Manifest.stripParameters)
    guard let manifest = try? Manifest(bytes: Array(body), declaredType: declared) else { return 0 }
    let descriptors = (manifest.config.map { [$0] } ?? []) + manifest.layers + manifest.manifests
        + (manifest.subject.map { [$0] } ?? [])
    for descriptor in descriptors {
        precondition(Digest(descriptor.digest) != nil, "accepted descriptor digest \(descriptor.digest)")
        precondition(descriptor.size >= 0, "accepted negative size \(descriptor.size)")
    }
    precondition(manifest.isIndex || manifest.config != nil, "an image manifest without a config")
    let own = Set((manifest.config.map { [$0] } ?? []) + manifest.layers)
    precondition(manifest.referencedBlobs.allSatisfy(own.contains), "referenced blob not in config or layers")
    _ = manifest.referrerArtifactType
    return 0
}
