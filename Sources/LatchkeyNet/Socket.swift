import CLatchkeyShims
#if canImport(Glibc)
import Glibc
#endif

/// Thin forwarders to the socket calls, turning `errno` into a `NetError` at the call site.
enum Socket {
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// A new non-blocking, close-on-exec TCP socket for `family`.
    static func makeStream(family: Int32) throws(NetError) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetError(.ioFailed, "socket(): \(errnoText())") }
        return fd
    }

    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Disables Nagle: the proxy writes whole heads and chunks and wants them sent now.
    static func setNoDelay(_ fd: Int32) { setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1) }

    /// The pending error of a socket after a non-blocking connect (`SO_ERROR`).
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                getsockname(fd, raw, &length) == 0 ? SocketAddress(storage: raw) : nil
            }
        }
    }

    static func peerAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                getpeername(fd, raw, &length) == 0 ? SocketAddress(storage: raw) : nil
            }
        }
    }

    /// What one `accept` gave.
    enum AcceptResult {
        case accepted(Int32)
        /// Nothing pending (EAGAIN).
        case wouldBlock
        /// EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog; retrying at once would spin.
        case outOfResources
    }

    /// Accepts one pending connection, already non-blocking. A connection that was aborted while queued
    /// (ECONNABORTED, EPROTO) or a signal (EINTR) is skipped and the next one tried.
    static func accept(_ fd: Int32) -> AcceptResult {
        while true {
            let client = latchkey_accept_nonblocking(fd, nil, nil)
            if client >= 0 { return .accepted(client) }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO, EPERM: continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM: return .outOfResources
            default: return .wouldBlock
            }
        }
    }
}
