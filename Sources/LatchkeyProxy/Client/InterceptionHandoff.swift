import LatchkeyNet
import LatchkeyTLS

/// An intercepted CONNECT between its head and the TLS handshake: gets the leaf certificate's context for the
/// CONNECT host (from the cache, or minted off the event loop by the `InterceptionAuthority`), then answers
/// `200` and hands the socket to a new `ClientConnection` over a server `TLSStream` that requires the SNI to
/// name the CONNECT host. Bytes the client sends meanwhile (the start of its ClientHello) are held, at most
/// `maxHeldBytes`, and fed to the TLS layer first.
///
/// The `200` goes out only once the context exists, so a leaf that cannot be made is a `502` on the plain
/// connection rather than a broken handshake. Nothing goes upstream and no credential is looked up here:
/// that happens per request, after the handshake, on the new connection.
final class InterceptionHandoff: ClientTunnel, @unchecked Sendable {  // confined to the client loop
    private enum State { case waitingForLeaf, handedOff, closed }

    /// A ClientHello fits in a few KiB; more than this before the `200` is not a TLS client.
    static let maxHeldBytes = 64 * 1024

    /// Strong until the handoff: the client holds this object as its tunnel; the cycle is broken on handoff
    /// (the client drops its tunnel) or when the client closes (it calls `close()` and drops it).
    private let client: ClientConnection
    private let origin: InterceptedOrigin
    private let runtime: ProxyRuntime
    private var state = State.waitingForLeaf
    private var held: [UInt8] = []

    init(client: ClientConnection, origin: InterceptedOrigin, runtime: ProxyRuntime) {
        self.client = client
        self.origin = origin
        self.runtime = runtime
    }

    /// Looks up the leaf; on a cache hit the handoff happens before this returns.
    func start() {
        guard let authority = runtime.interception else {
            leafFailed("interception is not configured")  // the planner checked; a guard, not a path
            return
        }
        let metrics = runtime.metrics.interception
        if let context = authority.cachedContext(forHost: origin.host) {
            metrics.recordLeaf(cached: true)
            handOff(context)
            return
        }
        authority.context(forHost: origin.host, on: client.loop) { [self] result in
            switch result {
            case .success(let context):
                metrics.recordLeaf(cached: false)
                handOff(context)
            case .failure(let error):
                leafFailed(error.description)
            }
        }
    }

    // MARK: ClientTunnel (before the handoff)

    func clientSent(_ bytes: [UInt8]) {
        guard state == .waitingForLeaf else { return }
        held.append(contentsOf: bytes)
        if held.count > Self.maxHeldBytes {
            state = .closed
            runtime.metrics.interception.recordHandshakeFailed()
            client.accessLog.recordInterceptHandshakeFailed(
                origin: origin, reason: "more than \(Self.maxHeldBytes) bytes before the 200", runtime: runtime)
            client.closeNow()
        }
    }

    /// The client gave up before the `200`: nothing to hand over.
    func clientReachedEOF() {
        guard state == .waitingForLeaf else { return }
        state = .closed
        client.closeNow()
    }

    func clientDrained() {}

    func close() { state = .closed }

    // MARK: The handoff

    private func handOff(_ context: TLSServerContext) {
        guard state == .waitingForLeaf else { return }  // the client closed while the leaf was minted
        state = .handedOff
        let socket = client.stream
        let tls: TLSStream
        do {
            tls = try TLSStream(
                underlying: socket, context: context, requiredServerName: origin.host, underlyingIsReady: true)
        } catch {
            state = .waitingForLeaf
            leafFailed(error.description)
            return
        }
        socket.write(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        let intercepted = ClientConnection(
            stream: tls, server: client.server, pool: client.pool, interceptedOrigin: origin)
        client.server.handOff(from: client, to: intercepted)
        client.detachAfterHandoff()  // the plain connection is done: nothing refers to it once this returns
        intercepted.start()  // takes over the socket's events and begins the handshake
        socket.setReadingPaused(false)
        if !held.isEmpty {
            let bytes = held
            held = []
            tls.stream(socket, didRead: bytes)
        }
        if intercepted.serverIsDraining { intercepted.drain() }
    }

    private func leafFailed(_ reason: String) {
        guard state == .waitingForLeaf else { return }
        state = .closed
        runtime.metrics.interception.recordLeafFailed()
        let error = ProxyError(
            .interceptionFailed,
            "no certificate could be made for \(origin.host) to intercept CONNECT \(origin): \(reason)")
        client.accessLog.recordRejected(
            method: "CONNECT", target: origin.authority, status: error.status, error: error.errorName, runtime: runtime)
        client.tunnelFailed(error)
    }
}
