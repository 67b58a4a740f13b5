#if canImport(Glibc)
import Glibc
#endif

/// The systemd service notification protocol (`sd_notify(3)`) without libsystemd: one datagram of
/// newline-separated `KEY=VALUE` assignments sent to the `AF_UNIX` socket named by `$NOTIFY_SOCKET`.
///
/// Used by `latchkey run` as `notify("READY=1")` once the listeners are bound (a `Type=notify` unit
/// is "started" only then), `notify("RELOADING=1")` / `notify("READY=1")` around a reload,
/// `notify("STOPPING=1")` on SIGTERM and `notify("STATUS=...")` for `systemctl status`.
///
/// Contract: a no-op when `$NOTIFY_SOCKET` is unset, empty or not a socket address this supports
/// (an absolute path, or `@name` for the Linux abstract namespace); any failure is swallowed — a
/// notification is advice to the service manager and must never stop or crash the proxy. Safe to call
/// from any thread (a fresh socket per call, nothing shared). The environment variable is left set,
/// so reload and stop notifications reach systemd too.
enum SystemdNotifier {
    /// Sends `state` (e.g. `"READY=1"`, `"STATUS=serving 3 routes"`) to `$NOTIFY_SOCKET`, if set.
    static func notify(_ state: String) {
        guard let raw = getenv("NOTIFY_SOCKET") else { return }
        _ = send(state, to: String(cString: raw))
    }

    /// Sends `state` to the socket `address` (`/path` or `@abstract`). Returns whether the whole datagram
    /// was sent; separate from `notify` so a caller can name the socket explicitly.
    @discardableResult
    static func send(_ state: String, to address: String) -> Bool {
        guard let (storage, length) = makeAddress(address) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                payload.withUnsafeBytes { bytes in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), address, length)
                }
            }
        }
        return sent == payload.count
    }

    /// A `sockaddr_un` and its length for `address`, or nil when it is not a path or `@name`, or too long.
    ///
    /// For a path the length covers the terminating NUL; for the abstract namespace the leading `@` becomes
    /// a NUL byte and the length ends exactly at the name's last byte (abstract names are not NUL-terminated,
    /// and the kernel compares the length too) — as `sd_notify` does.
    private static func makeAddress(_ address: String) -> (storage: sockaddr_un, length: socklen_t)? {
        var bytes = Array(address.utf8)
        let abstract: Bool
        switch bytes.first {
        case UInt8(ascii: "/"): abstract = false
        case UInt8(ascii: "@"): abstract = true; bytes[0] = 0
        default: return nil  // unset, relative, or another transport (e.g. vsock:) this does not speak
        }
        var storage = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        guard bytes.count < capacity, !bytes.dropFirst().contains(0) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: bytes)  // sockaddr_un() is zeroed, so a path stays NUL-terminated
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length = pathOffset + bytes.count + (abstract ? 0 : 1)
        return (storage, socklen_t(length))
    }
}
