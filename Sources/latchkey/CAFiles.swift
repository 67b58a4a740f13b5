#if canImport(Glibc)
    import Glibc
#endif

/// File steps of `latchkey ca init`, with errno turned into messages naming the path.
enum CAFiles {
    struct Failure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Creates `directory` and missing parents (0755); fine when it exists as a directory.
    static func makeDirectory(_ directory: String) throws(Failure) {
        var status = stat()
        if stat(directory, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else { throw Failure("\(directory) is not a directory") }
            return
        }
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            try makeDirectory(String(directory[..<slash]))
        }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw Failure("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `bytes` to `path` with exactly `mode`: into a new temporary file in the same directory
    /// (created with that mode, so the key is never readable by others, whatever the umask), then
    /// renamed over `path`, so a reader never sees half a file.
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        if fchmod(descriptor, mode) != 0 { failure = "cannot set the mode of \(temporary)" }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = "cannot write \(temporary): \(String(cString: strerror(errno)))"
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = "cannot sync \(temporary)" }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 {
            failure = "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))"
        }
        if let failure {
            unlink(temporary)
            throw Failure(failure)
        }
    }

    /// `path` made absolute against the working directory (for the printed config snippet).
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        return (directory == "/" ? "" : directory) + "/" + relative
    }
}
