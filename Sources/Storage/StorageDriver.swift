/// Size and modification time of a stored object.
public struct StorageInfo: Sendable, Equatable {
    public var size: Int64
    public var isDirectory: Bool
    public var modifiedAt: Double

    public init(size: Int64, isDirectory: Bool, modifiedAt: Double) {
        self.size = size
        self.isDirectory = isDirectory
        self.modifiedAt = modifiedAt
    }
}

/// Bytes addressed by `StoragePath`, as small as Distribution's driver interface.
///
/// Drivers move bytes; they know nothing of manifests, tags or HTTP. Every method that can
/// fail throws `StorageError`.
public protocol StorageDriver: Sendable {
    /// A short stable name ("filesystem") for logs and metric labels.
    var name: String { get }
    /// The whole object at `path`.
    func getContent(_ path: StoragePath) async throws -> [UInt8]
    /// Stores `bytes` at `path`, replacing what was there atomically.
    func putContent(_ path: StoragePath, _ bytes: [UInt8]) async throws
    /// A reader positioned at `offset`.
    func reader(_ path: StoragePath, offset: Int64) async throws -> any StorageReader
    /// A writer for the object at `path`; with `append`, it continues the bytes already there.
    /// The store writes content to a private path (an upload or a staging file) and
    /// publishes it with `move`, which is atomic: readers never see a partial object.
    func writer(_ path: StoragePath, append: Bool) async throws -> any StorageWriter
    /// Size and kind of the object, or nil if nothing is at `path`.
    func stat(_ path: StoragePath) async throws -> StorageInfo?
    /// Names of the direct children of the directory `path` (empty if it does not exist).
    func list(_ path: StoragePath) async throws -> [String]
    /// Moves an object, replacing the destination atomically.
    func move(_ source: StoragePath, to destination: StoragePath) async throws
    /// Deletes the object or the whole directory tree at `path`; absent is not an error.
    func delete(_ path: StoragePath) async throws
}

/// Reads an object sequentially.
public protocol StorageReader: Sendable {
    /// The object's total size.
    var size: Int64 { get }
    /// Up to `maxBytes` more bytes; empty at the end.
    func read(maxBytes: Int) async throws -> [UInt8]
    /// Hands over an open file descriptor positioned for `sendfile`, when the driver has
    /// one; the caller then owns and closes it. The reader is spent afterwards.
    func takeFileDescriptor() -> Int32?
    func close()
}

/// Writes an object sequentially.
public protocol StorageWriter: Sendable {
    /// Bytes written so far, including those of a writer this one appends to.
    var size: Int64 { get }
    /// Appends `bytes`. Synchronous: callers hand over borrowed buffers.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes the bytes durable and closes the writer.
    func commit() async throws
    /// Closes the writer, leaving the bytes for a later appending writer.
    func close() async throws
    /// Closes the writer and deletes the object.
    func cancel() async
}
