/// A path inside a storage driver: `/`-separated components below the driver's root.
///
/// Only the content store builds paths, from parsed names, tags and digests, so a path
/// never holds an empty, `.` or `..` component (checked again here, cheaply).
public struct StoragePath: Hashable, Sendable, CustomStringConvertible {
    public let components: [String]

    public init(_ components: [String]) {
        precondition(components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("/") },
                     "storage path components must be plain names")
        self.components = components
    }

    public init(_ path: String) {
        self.init(path.split(separator: "/").map(String.init))
    }

    public func appending(_ more: String...) -> StoragePath {
        StoragePath(components + more.flatMap { $0.split(separator: "/").map(String.init) })
    }

    public var parent: StoragePath { StoragePath(Array(components.dropLast())) }
    public var lastComponent: String { components.last ?? "" }
    public var description: String { "/" + components.joined(separator: "/") }
}
