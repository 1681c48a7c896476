/// A failure reported by a storage driver or the content store.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// Broad kind of failure; stable and bounded, so safe as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable { case notFound, invalidPath, noSpace, io, corrupt }
        private let kind: Kind
        public static let notFound = Code(kind: .notFound)
        public static let invalidPath = Code(kind: .invalidPath)
        /// The device is full (ENOSPC) or over quota (EDQUOT).
        public static let noSpace = Code(kind: .noSpace)
        public static let io = Code(kind: .io)
        /// Stored bytes do not match their digest.
        public static let corrupt = Code(kind: .corrupt)
        public var description: String { kind.rawValue }
    }

    public var code: Code
    /// For logs; may contain paths. Never shown to clients verbatim.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
