#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A `StorageDriver` over a local directory, laid out exactly as Distribution's
/// `filesystem` driver lays it out, so either can serve the other's store.
///
/// Calls are plain blocking syscalls: on a local disk they take microseconds, far less
/// than a hop to a thread pool would.
public struct FilesystemDriver: StorageDriver {
    public let name = "filesystem"
    /// The driver's root: Distribution's `rootdirectory`.
    public let root: String

    public init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    /// The absolute filesystem path of `path`.
    public func fullPath(_ path: StoragePath) -> String {
        root + path.description
    }

    public func getContent(_ path: StoragePath) async throws -> [UInt8] {
        try readWholeFile(fullPath(path), for: path)
    }

    /// Durable once it returns: the bytes, the name and any directory made for it are synced
    /// (a link or manifest acknowledged with 201 survives a crash).
    public func putContent(_ path: StoragePath, _ bytes: [UInt8]) async throws {
        let target = fullPath(path)
        let created = try makeDirectories(fullPath(path.parent))
        let temporary = target + ".tmp-" + randomSuffix()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw posixError("create", path) }
        defer { close(fd) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0, path) }
            guard fdatasync(fd) == 0 else { throw posixError("fdatasync", path) }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let error = posixError("rename", path)
            unlink(temporary)
            throw error
        }
        try syncDirectories(containing: target, created: created)
    }

    public func reader(_ path: StoragePath, offset: Int64) async throws -> any StorageReader {
        let fd = open(fullPath(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("open", path) }
        var info = FileStatus()
        guard fstat(fd, &info) == 0 else {
            let error = posixError("fstat", path)
            close(fd)
            throw error
        }
        if offset > 0, lseek(fd, off_t(offset), SEEK_SET) < 0 {
            let error = posixError("seek", path)
            close(fd)
            throw error
        }
        return FileReader(fd: fd, size: Int64(info.st_size))
    }

    public func writer(_ path: StoragePath, append: Bool) async throws -> any StorageWriter {
        try makeDirectories(fullPath(path.parent))
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)
        let fd = open(fullPath(path), flags, 0o644)
        guard fd >= 0 else { throw posixError("create", path) }
        var info = FileStatus()
        fstat(fd, &info)
        return FileWriter(fd: fd, path: path, fullPath: fullPath(path), size: append ? Int64(info.st_size) : 0)
    }

    public func stat(_ path: StoragePath) async throws -> StorageInfo? {
        var info = FileStatus()
        guard statFile(fullPath(path), &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw posixError("stat", path)
        }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        return StorageInfo(size: Int64(info.st_size), isDirectory: isDirectory, modifiedAt: modified)
    }

    public func list(_ path: StoragePath) async throws -> [String] {
        guard let dir = opendir(fullPath(path)) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw posixError("opendir", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Durable once it returns: the object's bytes are synced before the rename, its new
    /// directory entry (and any directory made for it) after.
    public func move(_ source: StoragePath, to destination: StoragePath) async throws {
        let created = try makeDirectories(fullPath(destination.parent))
        let fd = open(fullPath(source), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("open", source) }
        let synced = fdatasync(fd) == 0
        let syncError = synced ? nil : posixError("fdatasync", source)
        close(fd)
        if let syncError { throw syncError }
        guard rename(fullPath(source), fullPath(destination)) == 0 else { throw posixError("rename", source) }
        try syncDirectories(containing: fullPath(destination), created: created)
    }

    public func delete(_ path: StoragePath) async throws {
        try removeTree(fullPath(path), for: path)
    }

    // MARK: helpers

    private func readWholeFile(_ file: String, for path: StoragePath) throws -> [UInt8] {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("open", path) }
        defer { close(fd) }
        var info = FileStatus()
        guard fstat(fd, &info) == 0 else { throw posixError("fstat", path) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { break }
                throw posixError("read", path)
            }
            filled += n
        }
        return filled == bytes.count ? bytes : Array(bytes[..<filled])
    }

    /// `mkdir -p`. - Returns: the directories it made, outermost first.
    @discardableResult
    func makeDirectories(_ directory: String) throws -> [String] {
        if mkdir(directory, 0o755) == 0 { return [directory] }
        if errno == EEXIST { return [] }
        guard errno == ENOENT else { throw posixError("mkdir", directory) }
        var created: [String] = []
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            created = try makeDirectories(String(directory[..<slash]))
        }
        if mkdir(directory, 0o755) == 0 {
            created.append(directory)
        } else if errno != EEXIST {
            throw posixError("mkdir", directory)
        }
        return created
    }

    /// fsyncs the directory holding `file`, and the parent of each directory just `created`,
    /// so the new names survive a crash, not only the bytes.
    private func syncDirectories(containing file: String, created: [String]) throws {
        var directories = [parentDirectory(of: file)]
        for directory in created.reversed() { directories.append(parentDirectory(of: directory)) }
        for directory in directories {
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw posixError("open", directory) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw posixError("fsync", directory) }
        }
    }

    private func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private func removeTree(_ file: String, for path: StoragePath) throws {
        if unlink(file) == 0 || errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else { throw posixError("unlink", path) }
        if let dir = opendir(file) {
            var children: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { children.append(name) }
            }
            closedir(dir)
            for child in children { try removeTree(file + "/" + child, for: path) }
        }
        guard rmdir(file) == 0 || errno == ENOENT else { throw posixError("rmdir", path) }
    }
}

typealias FileStatus = Glibc.stat

/// `stat(2)`, under a name the driver's own `stat` method does not shadow.
private func statFile(_ path: String, _ info: inout FileStatus) -> Int32 {
    stat(path, &info)
}

private func randomSuffix() -> String {
    String(UInt64.random(in: 0...UInt64.max), radix: 36)
}

/// Maps the current `errno` to a `StorageError`.
func posixError(_ call: String, _ path: StoragePath) -> StorageError {
    posixError(call, path.description)
}

/// The same for a filesystem path, which may hold `.` or `..` (a relative `rootdirectory`):
/// never made into a `StoragePath`, whose components must be plain names.
func posixError(_ call: String, _ path: String) -> StorageError {
    let code = errno
    let text = String(cString: strerror(code))
    switch code {
    case ENOENT, ENOTDIR: return StorageError(.notFound, "\(call) \(path): \(text)")
    case ENOSPC, EDQUOT: return StorageError(.noSpace, "\(call) \(path): \(text)")
    default: return StorageError(.io, "\(call) \(path): \(text)")
    }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: StoragePath) throws {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw posixError("write", path)
        }
        offset += n
    }
}

/// A file descriptor owned by one reader; `Sendable` because every access goes through the lock.
final class FileReader: StorageReader {
    let size: Int64
    private let fd: Mutex<Int32>

    init(fd: Int32, size: Int64) {
        self.fd = Mutex(fd)
        self.size = size
    }

    func read(maxBytes: Int) async throws -> [UInt8] {
        try fd.withLock { fd in
            guard fd >= 0 else { return [] }
            var buffer = [UInt8](repeating: 0, count: maxBytes)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, maxBytes) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw StorageError(.io, "read: \(String(cString: strerror(errno)))") }
                buffer.removeSubrange(n...)
                return buffer
            }
        }
    }

    func takeFileDescriptor() -> Int32? {
        fd.withLock { fd in
            defer { fd = -1 }
            return fd >= 0 ? fd : nil
        }
    }

    func close() {
        fd.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    deinit { close() }
}

final class FileWriter: StorageWriter {
    private struct State {
        var fd: Int32
        var size: Int64
    }

    private let state: Mutex<State>
    private let path: StoragePath
    private let fullPath: String

    init(fd: Int32, path: StoragePath, fullPath: String, size: Int64) {
        self.state = Mutex(State(fd: fd, size: size))
        self.path = path
        self.fullPath = fullPath
    }

    var size: Int64 { state.withLock { $0.size } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { state in
            guard state.fd >= 0 else { throw StorageError(.io, "write to a closed writer for \(path)") }
            try writeAll(state.fd, bytes, path)
            state.size += Int64(bytes.count)
        }
    }

    func commit() async throws {
        try state.withLock { state in
            guard state.fd >= 0 else { return }
            defer { Glibc.close(state.fd); state.fd = -1 }
            guard fdatasync(state.fd) == 0 else { throw posixError("fdatasync", path) }
        }
    }

    func close() async throws {
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
            state.fd = -1
        }
    }

    func cancel() async {
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
            state.fd = -1
        }
        unlink(fullPath)
    }

    deinit {
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
        }
    }
}
