import LatchkeyConfig
import LatchkeyTLS

/// The pool's HTTP/2 side: which protocol an upstream gets, and its multiplexed connections.
///
/// `http2: never` is HTTP/1.1. On http://, `always` is h2c with prior knowledge and `auto` HTTP/1.1. On
/// https://, `auto` and `always` offer `h2, http/1.1` by ALPN: until the pool knows what the server picks
/// for this key, a request opens an ordinary connection, and the handshake decides (`upstreamDidConnect`);
/// from then on the answer is remembered (per loop: each loop's pool learns on its own first connection).
/// One HTTP/2 connection serves every request to its key while it has room under the server's
/// SETTINGS_MAX_CONCURRENT_STREAMS; a further one opens beyond that.
extension UpstreamPool {
    /// Whether a request to `key` (`isTLS`: https) under `mode` goes over HTTP/2: true, false, or nil when the
    /// TLS handshake must tell.
    func usesHTTP2(_ key: PoolKey, isTLS: Bool, mode: HTTP2Mode) -> Bool? {
        Self.usesHTTP2(mode: mode, isTLS: isTLS, learned: speaksHTTP2[key])
    }

    /// The rule itself: `learned` is what the server chose by ALPN on an earlier handshake, if any.
    static func usesHTTP2(mode: HTTP2Mode, isTLS: Bool, learned: Bool?) -> Bool? {
        switch mode {
        case .never: return false
        case .auto where !isTLS: return false
        case .always where !isTLS: return true
        case .auto, .always: return learned
        }
    }

    /// A stream on a connection to `key` with room, opening a connection when none has; `ready` when its
    /// connection is (else the exchange calls `start`).
    func http2Stream(
        key: PoolKey, tls: TLSClientContext?, connectTimeout: Duration, handler: any UpstreamConnectionHandler
    ) -> Result<(upstream: any ExchangeUpstream, ready: Bool), UpstreamFailure> {
        if let connection = http2Connections[key]?.first(where: \.hasRoom) {
            return .success((connection.makeStream(handler: handler), connection.isReady))
        }
        do {
            let connection = try HTTP2UpstreamConnection(
                endpoint: key.endpoint, key: key, tls: tls, connectTimeout: connectTimeout, pool: self)
            http2Connections[key, default: []].append(connection)
            return .success((connection.makeStream(handler: handler), false))
        } catch {
            return .failure(error)
        }
    }

    /// Remembers what the server for `key` chose by ALPN. Bounded: a wildcard route without `upstream` meets
    /// as many hosts as clients name, so past `maxLearnedProtocols` the memory starts over (each host then
    /// learns again on its next new connection).
    func learnProtocol(http2: Bool, key: PoolKey) {
        if speaksHTTP2.count >= Self.maxLearnedProtocols, speaksHTTP2[key] == nil { speaksHTTP2.removeAll() }
        speaksHTTP2[key] = http2
    }

    static let maxLearnedProtocols = 4096

    /// Remembers the stream limit a server announced for `key` (bounded as `learnProtocol`).
    func learnStreamLimit(_ limit: UInt32, key: PoolKey) {
        if http2StreamLimits.count >= Self.maxLearnedProtocols, http2StreamLimits[key] == nil {
            http2StreamLimits.removeAll()
        }
        http2StreamLimits[key] = limit
    }

    /// The stream limit a connection to `key` assumes before its server's SETTINGS say: what the last one to
    /// the same server was given. Assuming the protocol's "unlimited" instead put every concurrent request on
    /// the connection still starting, where those past the server's real limit then waited for a free stream
    /// rather than open a connection of their own.
    func assumedStreamLimit(for key: PoolKey) -> UInt32? { http2StreamLimits[key] }

    /// A connection stops taking streams (GOAWAY, close).
    func removeHTTP2(_ connection: HTTP2UpstreamConnection) {
        http2Connections[connection.key]?.removeAll { $0 === connection }
        if http2Connections[connection.key]?.isEmpty == true { http2Connections[connection.key] = nil }
    }

    /// A new HTTP/1.1-shaped connection finished its handshake: learn the server's choice, and when it is
    /// `h2` let an HTTP/2 connection take the socket over and serve `handler` on its first stream.
    func adoptIfHTTP2(
        _ connection: UpstreamConnection, tls: TLSClientContext?, handler: any UpstreamConnectionHandler
    ) -> any ExchangeUpstream {
        guard connection.endpoint.isTLS, let chosen = connection.negotiatedProtocol else { return connection }
        let key = PoolKey(endpoint: connection.endpoint, tls: tls.map(ObjectIdentifier.init))
        let isH2 = chosen == "h2"
        learnProtocol(http2: isH2, key: key)
        guard isH2 else { return connection }
        connection.handler = nil
        do {
            let multiplexed = try HTTP2UpstreamConnection(
                adopting: connection.stream, endpoint: connection.endpoint, key: key, pool: self)
            http2Connections[key, default: []].append(multiplexed)
            return multiplexed.makeStream(handler: handler)
        } catch {
            connection.handler = handler
            connection.close()
            return connection
        }
    }
}
