import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyTLS
import Synchronization

/// The HTTP client the token manager talks to token and discovery endpoints through: the proxy's own
/// sockets, TLS and codec, one short-lived connection per request (token requests are rare), with the
/// response body buffered up to `maxResponseBytes`.
public final class UpstreamHTTPClient: TokenEndpointClient {
    public static let maxResponseBytes = 1 << 20
    private let loop: EventLoop
    /// Contexts this client made itself, for configurations `runningContexts` does not know (the CLI's clients).
    private let contexts = Mutex<[TLSClientConfiguration: TLSClientContext]>([:])
    /// The trust those contexts load, once each.
    private let trustStores = TLSTrustStores()
    /// The running runtime's contexts (`ProxyRuntime.clientContexts`), asked first: after a reload that rebuilt
    /// them from rotated files, the next token request uses the new ones.
    private let runningContexts = Mutex<(@Sendable (TLSClientConfiguration) -> TLSClientContext?)?>(nil)
    /// The proxy's own listeners (the `ProxyServer`'s instance, filled when it binds them): token,
    /// discovery and revocation requests never connect to them, whatever a discovery document names.
    public let ownListeners: OwnListeners

    public init(loop: EventLoop, ownListeners: OwnListeners) {
        self.loop = loop
        self.ownListeners = ownListeners
    }

    public func send(
        _ request: TokenEndpointRequest,
        completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void
    ) {
        send(request, maxResponseBytes: Self.maxResponseBytes, completion: completion)
    }

    /// `send` with another bound on the buffered body (CRLs may be larger than token responses) and another
    /// destination policy (a URL a certificate names must not reach link-local or metadata addresses).
    public func send(
        _ request: TokenEndpointRequest, maxResponseBytes: Int, destination: DestinationPolicy = .routed,
        completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void
    ) {
        let tls: TLSClientContext?
        if request.url.isTLS {
            do {
                tls = try context(for: request.tls.clientConfiguration)
            } catch {
                completion(.failure(NetworkFailure(reason: "TLS setup for \(request.url.authority) failed: \(error)")))
                return
            }
        } else {
            tls = nil
        }
        let loop = self.loop
        let ownListeners = self.ownListeners
        loop.execute {
            OneShotExchange(
                request: request, tls: tls, loop: loop, ownListeners: ownListeners, maxResponseBytes: maxResponseBytes,
                destination: destination, completion: completion
            ).start()
        }
    }

    /// Takes contexts from `lookup` (the server's running runtime) before making its own.
    public func useContexts(from lookup: @escaping @Sendable (TLSClientConfiguration) -> TLSClientContext?) {
        runningContexts.withLock { $0 = lookup }
    }

    private func context(for configuration: TLSClientConfiguration) throws -> TLSClientContext {
        if let running = runningContexts.withLock({ $0 })?(configuration) { return running }
        if let existing = contexts.withLock({ $0[configuration] }) { return existing }
        let created = try TLSClientContext(configuration: configuration, trustStores: trustStores)
        contexts.withLock { $0[configuration] = created }
        return created
    }
}

/// One request and its buffered response on a fresh upstream connection. Keeps itself alive until done.
private final class OneShotExchange: UpstreamConnectionHandler, @unchecked Sendable {  // confined to `loop`
    private let request: TokenEndpointRequest
    private let tls: TLSClientContext?
    private let loop: EventLoop
    private let ownListeners: OwnListeners
    private var completion: (@Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void)?
    private var connection: UpstreamConnection?
    private var timer: LoopTimer?
    private var retainSelf: OneShotExchange?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private let maxResponseBytes: Int
    private let destination: DestinationPolicy

    init(
        request: TokenEndpointRequest, tls: TLSClientContext?, loop: EventLoop, ownListeners: OwnListeners,
        maxResponseBytes: Int, destination: DestinationPolicy,
        completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void
    ) {
        self.maxResponseBytes = maxResponseBytes
        self.destination = destination
        self.request = request
        self.tls = tls
        self.loop = loop
        self.ownListeners = ownListeners
        self.completion = completion
    }

    func start() {
        retainSelf = self
        let url = request.url
        let endpoint = UpstreamEndpoint(
            scheme: url.scheme, host: url.host, port: url.port, serverName: request.tls.serverName ?? url.host,
            destination: destination)
        timer = loop.schedule(after: request.timeout) { [self] in
            finish(.failure(NetworkFailure(reason: "no response from \(url.scheme)://\(url.authority) within \(request.timeout)", isTimeout: true)))
        }
        do {
            let connection = try UpstreamConnection(
                endpoint: endpoint, tls: tls, loop: loop, connectTimeout: request.timeout, ownListeners: ownListeners)
            self.connection = connection
            connection.handler = self
            connection.start()
        } catch {
            finish(.failure(NetworkFailure(reason: "TLS with \(url.authority) failed: \(error)")))
        }
    }

    func upstreamDidBecomeReady(_ upstream: any ExchangeUpstream) {
        // The one-shot client speaks HTTP/1.1 on its own connection (its TLS context offers only http/1.1).
        guard let connection, connection === upstream else { return }
        // The path and query exactly as configured or published (a trailing '/', a query such as `?p=policy`).
        var head = HTTPRequestHead(method: request.method, target: request.url.requestTarget)
        head.headers.add(name: "Host", value: request.url.authority)
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        if request.method != "GET" || !request.body.isEmpty {
            head.headers.replaceOrAdd(name: "Content-Length", value: String(request.body.count))
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        var bytes: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &bytes)
        bytes.append(contentsOf: request.body)
        connection.beginRequest(method: request.method)
        connection.write(bytes)
    }

    func upstream(_ upstream: any ExchangeUpstream, didReceive events: inout [HTTP1ResponseEvent]) {
        for event in events {
            switch event {
            case .informational, .trailers: continue
            case .head(let received, _): head = received
            case .body(let chunk):
                body.append(contentsOf: chunk)
                if body.count > maxResponseBytes {
                    finish(.failure(NetworkFailure(reason: "response from \(request.url.authority) exceeds \(maxResponseBytes) bytes")))
                    return
                }
            case .end:
                let response = TokenEndpointResponse(
                    status: head?.status ?? 0, headers: head?.headers.fields.map { ($0.name, $0.value) } ?? [], body: body)
                finish(.success(response))
                return
            }
        }
    }

    func upstreamDidDrainWrites(_ upstream: any ExchangeUpstream) {}

    func upstream(_ upstream: any ExchangeUpstream, didFail error: UpstreamFailure) {
        let reason: String
        switch error {
        case .network(let network): reason = network.detail
        case .protocolError(let parse): reason = "invalid response from \(request.url.authority): \(parse)"
        case .closed: reason = "\(request.url.authority) closed the connection before a complete response"
        case .http2(let error): reason = "\(request.url.authority): \(error)"
        }
        finish(.failure(NetworkFailure(reason: reason)))
    }

    private func finish(_ result: Result<TokenEndpointResponse, NetworkFailure>) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        connection?.handler = nil
        connection?.close()
        connection = nil
        retainSelf = nil
        completion(result)
    }
}
