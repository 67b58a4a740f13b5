import COpenSSL
import Synchronization

/// Client sessions kept for resumption (RFC 8446 §2.2, RFC 5077), per peer (the upstream's `host:port` and the verified name).
///
/// One cache belongs to one `TLSClientContext`, so a session is only ever offered under the trust
/// settings it was verified with: a resumed handshake skips certificate verification and relies on
/// the original one. A reload builds new contexts, and with them empty caches.
///
/// TLS 1.3 tickets are used once (RFC 8446 §C.4: reuse lets a passive observer link connections);
/// a TLS 1.2 session stays until the server stops accepting it or a newer one replaces it. Bounded:
/// a few sessions per peer and a fixed number of peers, the oldest peer dropped first.
final class TLSSessionCache: Sendable {
    /// Enough single-use tickets for a burst of new connections to one upstream: with 4, a bench
    /// opening 64 at a time resumed 68% of its handshakes; with 16, 91%. A session is a few KiB, so
    /// even a full cache stays within a few MiB.
    static let sessionsPerPeer = 16
    static let maximumPeers = 128

    /// One `SSL_SESSION` reference owned by the cache; OpenSSL sessions are reference-counted and
    /// safe to share between threads once made.
    private struct Owned: @unchecked Sendable {
        let session: OpaquePointer
    }

    private struct Peer: Sendable {
        var sessions: [Owned] = []  // oldest first
        var lastUsed: UInt64 = 0
    }

    private struct State: Sendable {
        var peers: [String: Peer] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())

    deinit {
        state.withLock { state in
            for peer in state.peers.values { peer.sessions.forEach { SSL_SESSION_free($0.session) } }
        }
    }

    /// Sets a stored session for `peer` on `ssl` (before its handshake), if there is one.
    func offer(to ssl: OpaquePointer, peer: String) {
        state.withLock { state in
            guard var entry = state.peers[peer], let session = entry.sessions.last?.session else { return }
            if SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION {
                entry.sessions.removeLast()
                SSL_set_session(ssl, session)  // takes its own reference
                SSL_SESSION_free(session)
            } else if let copy = SSL_SESSION_dup(session) {
                // A copy: the connection's session is marked unusable if it ends without close_notify,
                // and the stored one must stay usable for the next connection.
                SSL_set_session(ssl, copy)
                SSL_SESSION_free(copy)
            }
            state.clock += 1
            entry.lastUsed = state.clock
            state.peers[peer] = entry
        }
    }

    /// Keeps a copy of `session` if it can be resumed.
    ///
    /// A copy, not another reference: OpenSSL marks a connection's own session unusable when that
    /// connection is freed without close_notify, which is how most keep-alive connections end. Since
    /// TLS 1.1 an unclean close need not prevent resumption (RFC 5246 §7.2.1); a fatal error does,
    /// and `forget(peer:)` handles that.
    func store(copyOf session: OpaquePointer, peer: String) {
        guard SSL_SESSION_is_resumable(session) == 1, let copy = SSL_SESSION_dup(session) else { return }
        let owned = Owned(session: copy)
        let isTLS13 = SSL_SESSION_get_protocol_version(copy) >= TLS1_3_VERSION
        let evicted = state.withLock { state -> [Owned] in
            var evicted: [Owned] = []
            state.clock += 1
            var entry = state.peers[peer] ?? Peer()
            if !isTLS13 {
                evicted += entry.sessions  // a TLS 1.2 server issues one session per handshake: the newest wins
                entry.sessions.removeAll()
            }
            entry.sessions.append(owned)
            if entry.sessions.count > Self.sessionsPerPeer {
                evicted.append(entry.sessions.removeFirst())
            }
            entry.lastUsed = state.clock
            state.peers[peer] = entry
            if state.peers.count > Self.maximumPeers,
                let oldest = state.peers.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
            {
                evicted += state.peers.removeValue(forKey: oldest)?.sessions ?? []
            }
            return evicted
        }
        evicted.forEach { SSL_SESSION_free($0.session) }
    }

    /// Drops every session stored for `peer`.
    func forget(peer: String) {
        let dropped = state.withLock { $0.peers.removeValue(forKey: peer)?.sessions ?? [] }
        dropped.forEach { SSL_SESSION_free($0.session) }
    }

    /// How many sessions are stored for `peer` (for tests and diagnostics).
    func count(for peer: String) -> Int {
        state.withLock { $0.peers[peer]?.sessions.count ?? 0 }
    }
}
