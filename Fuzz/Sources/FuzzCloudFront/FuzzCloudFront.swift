// CloudFront signed URLs at the edge: the URL split into resource and signing parameters
// (SignedURL), custom policy JSON (CloudFrontPolicy(jsonBytes:)), CloudFront base64, source
// IP ranges, and the whole check (CloudFrontVerifier.verify). Input: a URL, or policy JSON.
//
// The seeds are signed with the private half of `publicKey` (not kept: mutations break the
// signature anyway; the seeds let the fuzzer start from URLs that verify).
//
// Asserts: a custom policy renders (`json`) to JSON that reads back as the same policy, and
// an accepted URL's grant is for the resource the URL names.
@testable import CDN
import Foundation

private let publicKey = """
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Dn8xTwYDSO/JHI+mEkE
j1/xHFptPtIuJNLsGHkdFQctu0XgXN2j+RSzoK19kD5mqGZnTJPhWpRkDpdFDwim
pTwC/FsF5QTARRo9I+I+csocXfL3C0W90qV4zDYDfg7RSEvqSM3QuFs7JBaTebgI
A48mSR6zvWdICkOAGwiAUxw/SE2UaYgxj2oxpDka17pxjVxWyIOrRgmuByEhQjsq
woS/3DkSAQK9RUU7+5wwL1LIumE2LR3P/6l5f7q2sT8urSm3VB5QKo5xdbsyF4ZL
/7f+vG8xV6cxcEa8P6Cqzig737sdNpn8TFyJeOK6hu027w29r5DnnFA9K1s1ikSk
/QIDAQAB
-----END PUBLIC KEY-----
"""

private let verifier = try! CloudFrontVerifier(publicKeys: ["K2FUZZKEY": publicKey], allowedClockSkew: .seconds(30))
/// Fixed, so a run is reproducible: 2027-01-15. The seeds expire in 2100.
private let now = Date(timeIntervalSince1970: 1_800_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let policy = try? CloudFrontPolicy(jsonBytes: bytes) {
        let again = try? CloudFrontPolicy(jsonBytes: policy.jsonBytes)
        precondition(again == policy, "policy \(policy) renders as \(policy.json), which reads as \(String(describing: again))")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    if let parts = try? SignedURL(text) {
        _ = parts.policy.flatMap(CloudFrontBase64.decode)
        _ = parts.signature.flatMap(CloudFrontBase64.decode)
    }
    if let range = IPAddressRange(text) {
        precondition(IPAddressRange(range.description) == range, "range \(text) renders as \(range), which reads differently")
        _ = range.contains(text)
    }
    if let grant = try? verifier.verify(url: text, clientIP: "192.0.2.10", now: now) {
        precondition(grant.resource == (try? SignedURL(text))?.resource, "grant for \(grant.resource), not for the URL's resource")
        _ = grant.path
    }
    return 0
}
