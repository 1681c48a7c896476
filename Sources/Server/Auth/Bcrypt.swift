import CCrypt

/// bcrypt, as `htpasswd -B` writes it (`$2y$05$` + 53 characters), verified by the system's
/// libxcrypt rather than by code of our own.
enum Bcrypt {
    /// The versions libxcrypt verifies; `$2x$` (a buggy-implementation marker) is left out.
    static let prefixes = ["$2a$", "$2b$", "$2y$"]

    /// The highest cost an htpasswd entry may have. Each step doubles the work: cost 14 takes
    /// about a second of one core, so a higher one would let a few wrong passwords a second use
    /// a whole machine. `htpasswd -B` writes 5 unless told otherwise; Go's default is 10.
    static let maximumCost = 14

    /// The cost factor of a well-formed hash.
    static func cost(of hash: String) -> Int? {
        guard isHash(hash) else { return nil }
        return Int(String(decoding: Array(hash.utf8)[4..<6], as: UTF8.self))
    }

    /// True when `hash` has bcrypt's shape: a version, a two-digit cost, then 22 characters of
    /// salt and 31 of hash in bcrypt's base64 alphabet.
    static func isHash(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, prefixes.contains(where: { hash.hasPrefix($0) }) else { return false }
        guard let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost),
              bytes[6] == UInt8(ascii: "$") else { return false }
        return bytes[7...].allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "/"): return true
            default: return false
            }
        }
    }

    /// True when `password` hashes to `hash`. Slow by design (the cost factor): run it off the
    /// event loop and off the cooperative pool.
    static func verify(_ password: String, against hash: String) -> Bool {
        // A C string ends at NUL: a password holding one would be checked cut short.
        guard isHash(hash), !password.utf8.contains(0) else { return false }
        let size = MemoryLayout<crypt_data>.size
        // About 32 KiB of scratch space: on the heap, zeroed as libxcrypt asks on first use.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<crypt_data>.alignment)
        defer {
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            raw.deallocate()
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let data = raw.bindMemory(to: crypt_data.self, capacity: 1)
        guard let result = crypt_rn(password, hash, data, Int32(size)) else { return false }
        return constantTimeEqual(Array(String(cString: result).utf8), Array(hash.utf8))
    }

    /// Compares without an early exit, so the time taken says nothing about where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
