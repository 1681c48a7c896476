import Foundation
import Logging
@testable import Server
import Synchronization
import Testing

/// Log values cannot forge lines; password checks are bounded and do not reveal who exists.
@Suite struct HostileClientTests {
    @Test func logValuesWithControlCharactersAreQuotedAndEscaped() {
        #expect(WharfLogHandler.logfmtValue("/v2/") == "/v2/")
        #expect(WharfLogHandler.logfmtValue("a\r\nlevel=error") == #""a\r\nlevel=error""#)
        #expect(WharfLogHandler.logfmtValue("x\"y") == #""x\"y""#)
        #expect(WharfLogHandler.logfmtValue("\u{1b}[31m\u{7f}\u{2028}") == #""\u001b[31m\u007f\u2028""#)
    }

    @Test func htpasswdRefusesACostAboveTheCap() {
        let tooCostly = AuthCredentialTests.alice.replacingOccurrences(of: "$2y$05$", with: "$2y$15$")
        #expect(throws: ConfigurationError.self) { _ = try Htpasswd(text: "alice:\(tooCostly)\n", source: "f") }
    }

    @Test func anUnknownUserIsCheckedAgainstAStoredHashAndNeverLetIn() async throws {
        let users = try Htpasswd(text: AuthCredentialTests.file, source: "f")
        let checked = Mutex<[String]>([])
        let verifier = PasswordVerifier(users: users, check: { password, hash in
            checked.withLock { $0.append(hash) }
            return true  // even a check that says yes must not admit an unknown user
        }, logger: Logger(label: "test"))
        #expect(await verifier.verify(user: "nobody", password: "x") == false)
        #expect(checked.withLock { $0 } == [AuthCredentialTests.alice])  // the costliest entry
    }

    @Test func concurrentChecksAreBounded() async throws {
        let users = try Htpasswd(text: AuthCredentialTests.file, source: "f")
        let counts = Mutex((now: 0, most: 0))
        let verifier = PasswordVerifier(users: users, maxConcurrentChecks: 1, check: { _, _ in
            counts.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            usleep(20_000)
            counts.withLock { $0.now -= 1 }
            return false
        }, logger: Logger(label: "test"))
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<6 { group.addTask { await verifier.verify(user: "alice", password: "wrong-\(index)") } }
            for await result in group { #expect(result == false) }
        }
        #expect(counts.withLock { $0.most } == 1)
    }
}
