import Foundation
import LatchkeyConfig

#if canImport(Glibc)
import Glibc
#endif

/// A state-file problem (I/O or a bad key), with the path and errno text; never a token or the key.
public struct StateFileError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Encrypted per-connection state files in `state_dir` (one file, `NAME.state`, per connection).
///
/// Format, version 1: `"LKS1"` · version byte `0x01` · 12-byte random nonce · AES-256-GCM ciphertext
/// of the JSON `StoredGrant` · 16-byte tag. The AAD is magic · version · the connection name (UTF-8),
/// so a file copied to another connection's name, a changed version byte or any flipped bit fails
/// authentication. A reader rejects versions it does not know (reported as corrupt, never rewritten).
///
/// Writes are atomic: a temp file `.NAME.state.tmp.<random>` in the same directory, created with
/// `O_CREAT|O_EXCL` and mode 0600, written, `fsync`ed, renamed over `NAME.state`, then the directory is
/// `fsync`ed. A crash leaves the old file or the new one, plus at most a stray temp file, which
/// `load` deletes and never reads.
///
/// Corrupt files are reported and left alone: nothing here overwrites them except an explicit
/// `save` — which the source calls only after a new consent (an explicit connect) — or `remove`
/// (an explicit disconnect).
///
/// Thread-safety: immutable; calls for different connections may run concurrently, calls for one
/// connection must be serialized by the caller (the connection's source queue).
public final class StateFileStore: Sendable {
    static let magic: [UInt8] = Array("LKS1".utf8)
    static let version: UInt8 = 1
    static let maxFileSize = 1 << 20
    /// The result of reading one connection's file.
    public enum LoadResult: Sendable, Equatable {
        /// No file: the connection has never been connected (or was disconnected).
        case missing
        case loaded(StoredGrant)
        /// The file exists but cannot be used: the reason (wrong key, tampered, unknown version, unreadable).
        case corrupt(String)
    }

    public let directory: String
    private let key: [UInt8]

    /// - Parameters:
    ///   - directory: `state_dir`; created (mode 0700) when missing.
    ///   - key: `state_key` decoded: exactly 32 bytes.
    public init(directory: String, key: [UInt8]) throws(StateFileError) {
        guard key.count == AESGCM.keySize else { throw StateFileError("state_key must be 32 bytes, got \(key.count)") }
        self.directory = directory
        self.key = key
        var info = stat()
        if stat(directory, &info) != 0 {
            guard errno == ENOENT, mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw StateFileError("state_dir \(directory): \(String(cString: strerror(errno)))")
            }
        } else if info.st_mode & S_IFMT != S_IFDIR {
            throw StateFileError("state_dir \(directory) is not a directory")
        }
    }

    /// `keyBase64` is `state_key` as configured (standard base64 of 32 bytes).
    public convenience init(directory: String, keyBase64: SecretString) throws(StateFileError) {
        guard let key = Base64.decode(keyBase64.value.trimmingCharacters(in: .whitespacesAndNewlines)), key.count == 32 else {
            throw StateFileError("state_key is not base64 of 32 bytes")
        }
        try self.init(directory: directory, key: key)
    }

    /// The file for `connection`.
    public func path(for connection: String) -> String { directory + "/" + connection + ".state" }

    // MARK: Reading

    /// Reads and decrypts `connection`'s file, after deleting temp files left by an interrupted write.
    public func load(connection: String) -> LoadResult {
        removeStrayTempFiles(connection: connection)
        let path = path(for: connection)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            return errno == ENOENT ? .missing : .corrupt("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                return .corrupt("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > Self.maxFileSize { return .corrupt("\(path) is larger than \(Self.maxFileSize) bytes") }
        }
        return decode(bytes, connection: connection).mapCorrupt { "\(path): \($0)" }
    }

    /// Parses and decrypts a file's bytes.
    func decode(_ bytes: [UInt8], connection: String) -> LoadResult {
        let headerSize = Self.magic.count + 1
        guard bytes.count >= headerSize + AESGCM.nonceSize + AESGCM.tagSize, Array(bytes.prefix(4)) == Self.magic else {
            return .corrupt("not a Latchkey state file (bad magic or truncated)")
        }
        guard bytes[4] == Self.version else { return .corrupt("unsupported state file version \(bytes[4])") }
        let nonce = Array(bytes[headerSize..<headerSize + AESGCM.nonceSize])
        let ciphertext = Array(bytes[(headerSize + AESGCM.nonceSize)..<(bytes.count - AESGCM.tagSize)])
        let tag = Array(bytes.suffix(AESGCM.tagSize))
        let plaintext: [UInt8]
        do throws(CryptoError) {
            plaintext = try AESGCM.open(ciphertext, tag: tag, key: key, nonce: nonce, aad: Self.aad(connection: connection, version: bytes[4]))
        } catch {
            return .corrupt("cannot decrypt: \(error.reason)")
        }
        guard let grant = try? JSONDecoder().decode(StoredGrant.self, from: Data(plaintext)) else {
            return .corrupt("decrypted payload is not a valid state record")
        }
        return .loaded(grant)
    }

    // MARK: Writing

    /// Encrypts `grant` and atomically replaces `connection`'s file with it (see the type's comment).
    public func save(_ grant: StoredGrant, connection: String) throws(StateFileError) {
        let bytes = try encode(grant, connection: connection)
        let suffix: String
        do throws(CryptoError) {
            suffix = try SecureRandom.bytes(8).map { String($0, radix: 16) }.joined()
        } catch {
            throw StateFileError("random temp name: \(error)")
        }
        let temp = directory + "/." + connection + ".state.tmp." + suffix
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("create", temp) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = Self.failure("write", temp)
                close(fd)
                unlink(temp)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = Self.failure("fsync", temp)
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path(for: connection)) == 0 else {
            let error = Self.failure("rename", temp)
            unlink(temp)
            throw error
        }
        try syncDirectory()
    }

    /// Deletes `connection`'s file (a missing file is fine) and makes the deletion durable.
    public func remove(connection: String) throws(StateFileError) {
        let path = path(for: connection)
        if unlink(path) != 0 && errno != ENOENT { throw Self.failure("unlink", path) }
        try syncDirectory()
    }

    func encode(_ grant: StoredGrant, connection: String) throws(StateFileError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(grant) else { throw StateFileError("cannot encode state record") }
        do throws(CryptoError) {
            let nonce = try SecureRandom.bytes(AESGCM.nonceSize)
            let sealed = try AESGCM.seal(
                Array(json), key: key, nonce: nonce, aad: Self.aad(connection: connection, version: Self.version))
            return Self.magic + [Self.version] + nonce + sealed.ciphertext + sealed.tag
        } catch {
            throw StateFileError("encrypt: \(error)")
        }
    }

    static func aad(connection: String, version: UInt8) -> [UInt8] { magic + [version] + Array(connection.utf8) }

    private func syncDirectory() throws(StateFileError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Self.failure("fsync", directory) }
    }

    private func removeStrayTempFiles(connection: String) {
        let prefix = "." + connection + ".state.tmp."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) { unlink(directory + "/" + name) }
    }

    private static func failure(_ call: String, _ path: String) -> StateFileError {
        StateFileError("\(call) \(path): \(String(cString: strerror(errno)))")
    }
}

extension StateFileStore.LoadResult {
    fileprivate func mapCorrupt(_ transform: (String) -> String) -> Self {
        if case .corrupt(let reason) = self { return .corrupt(transform(reason)) }
        return self
    }
}
