import Foundation
import Logging
@testable import Server
import Synchronization
import Testing

/// htpasswd parsing, bcrypt through libxcrypt, and the verified-password cache.
@Suite struct AuthCredentialTests {
    /// Made with `htpasswd -nbB alice 'correct horse'` and `htpasswd -nbB -C 4 bob 'p@ss:word'`.
    static let alice = "$2y$05$GhFknqCkfTF/S3WSDTLD0.4SWUXZhLl/XhxDza7vjYEMwy5OGs8fy"
    static let bob = "$2y$04$DR7bBDi1GsxZmWhsUt3Lfux/OGTNDdRJefKhVfafeozk3uSisu0d."
    static let file = "# users\nalice:\(alice)\n\n  bob:\(bob)  \n"

    @Test func parsesBcryptEntriesSkippingCommentsAndBlankLines() throws {
        let users = try Htpasswd(text: Self.file, source: "users.htpasswd")
        #expect(users.entries == ["alice": Self.alice, "bob": Self.bob])
    }

    @Test(arguments: [
        ("carol:$apr1$vVUTay9/$BFrMoZ7vjfivNwjgrXC1O/", "line 1 (user \"carol\"): not a bcrypt hash"),  // htpasswd -m
        ("dave:{SHA}2PRZAyDhNDqRW2OUFwZQqPNdaSY=", "line 1 (user \"dave\"): not a bcrypt hash"),        // htpasswd -s
        ("erin:plain", "not a bcrypt hash"),
        ("no-colon-here", "line 1: not a user:hash entry"),
        ("alice:\(alice)\nalice:\(bob)", "line 2: user \"alice\" is listed twice"),
    ])
    func refusesWhatIsNotOneBcryptEntryPerUser(text: String, expected: String) {
        do {
            _ = try Htpasswd(text: text, source: "f")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.message.contains("BFrMoZ7v"), "a hash must never be echoed")
        }
    }

    @Test func bcryptVerifiesHashesMadeByHtpasswd() {
        #expect(Bcrypt.verify("correct horse", against: Self.alice))
        #expect(Bcrypt.verify("p@ss:word", against: Self.bob))
        #expect(!Bcrypt.verify("correct horsf", against: Self.alice))
        #expect(!Bcrypt.verify("", against: Self.alice))
        #expect(!Bcrypt.verify("correct horse\0tail", against: Self.alice))
        // $2b$ and $2a$ spell the same algorithm for these passwords.
        #expect(Bcrypt.verify("correct horse", against: "$2b$" + Self.alice.dropFirst(4)))
        #expect(Bcrypt.verify("correct horse", against: "$2a$" + Self.alice.dropFirst(4)))
    }

    @Test func bcryptShapeCheck() {
        #expect(Bcrypt.isHash(Self.alice))
        #expect(!Bcrypt.isHash("$2x$" + Self.alice.dropFirst(4)))
        #expect(!Bcrypt.isHash(String(Self.alice.dropLast())))
        #expect(!Bcrypt.isHash("$2y$99$" + Self.alice.dropFirst(7)))
    }

    final class CountingCheck: Sendable {
        let calls = Mutex(0)
        /// Extra time per check, so that concurrent checks surely overlap.
        let delay: Duration
        init(delay: Duration = .zero) { self.delay = delay }

        func check(_ password: String, _ hash: String) -> Bool {
            calls.withLock { $0 += 1 }
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds)) }
            return Bcrypt.verify(password, against: hash)
        }
    }

    func verifier(_ counter: CountingCheck, lifetime: Duration = .seconds(60)) throws -> PasswordVerifier {
        PasswordVerifier(users: try Htpasswd(text: Self.file, source: "f"), cacheLifetime: lifetime,
                         check: { counter.check($0, $1) }, logger: Logger(label: "test"))
    }

    @Test func aVerifiedPasswordIsRememberedSoBcryptRunsOnce() async throws {
        let counter = CountingCheck()
        let passwords = try verifier(counter)
        for _ in 0..<5 { #expect(await passwords.verify(user: "alice", password: "correct horse")) }
        #expect(counter.calls.withLock { $0 } == 1)
    }

    @Test func concurrentChecksOfTheSameCredentialsShareOneBcryptRun() async throws {
        let counter = CountingCheck(delay: .milliseconds(300))
        let passwords = try verifier(counter)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { await passwords.verify(user: "alice", password: "correct horse") } }
            for _ in 0..<4 { group.addTask { await passwords.verify(user: "alice", password: "wrong") } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 8)
        #expect(counter.calls.withLock { $0 } == 2, "one run for the right password, one for the wrong one")
    }

    @Test func theCacheNeverAcceptsAWrongPassword() async throws {
        let counter = CountingCheck()
        let passwords = try verifier(counter)
        #expect(await passwords.verify(user: "alice", password: "correct horse"))
        #expect(!(await passwords.verify(user: "alice", password: "correct hors")))
        #expect(!(await passwords.verify(user: "alice", password: "correct horse ")))
        #expect(!(await passwords.verify(user: "bob", password: "correct horse")))
        #expect(!(await passwords.verify(user: "mallory", password: "correct horse")))
        // Every wrong password went to bcrypt, and so did the unknown user (against a decoy
        // hash, so that a wrong name takes as long as a wrong password).
        #expect(counter.calls.withLock { $0 } == 5)
    }

    @Test func aRememberedPasswordExpires() async throws {
        let counter = CountingCheck()
        let passwords = try verifier(counter, lifetime: .milliseconds(50))
        #expect(await passwords.verify(user: "bob", password: "p@ss:word"))
        try await Task.sleep(for: .milliseconds(80))
        #expect(await passwords.verify(user: "bob", password: "p@ss:word"))
        #expect(counter.calls.withLock { $0 } == 2)
    }

    @Test func aChangedFileIsReadAgain() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-htpasswd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "alice:\(Self.alice)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let passwords = PasswordVerifier(users: try Htpasswd.load(path: path), path: path, reloadInterval: .zero,
                                         logger: Logger(label: "test"))
        #expect(await passwords.verify(user: "alice", password: "correct horse"))
        #expect(!(await passwords.verify(user: "bob", password: "p@ss:word")))
        try "bob:\(Self.bob)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await passwords.verify(user: "bob", password: "p@ss:word"))
        #expect(!(await passwords.verify(user: "alice", password: "correct horse")), "a removed user's cached login must end")
        // A broken file keeps the users read before.
        try "bob:plain\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await passwords.verify(user: "bob", password: "p@ss:word"))
    }
}
