import LatchkeyConfig
import LatchkeyHTTP

/// Every failure the proxy reports to a client, mapped in exactly one place to a status, a
/// machine-readable `error` (also sent as `X-Latchkey-Error` and safe as a metric label) and a
/// human `detail`. Details carry addresses, route and connection names and what a provider said,
/// never a credential.
public struct ProxyError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad_request"
        case denied = "denied"
        case noRoute = "no_route"
        case connectRefusedForRoute = "connect_not_supported_for_route"
        case plaintextCredentials = "plaintext_credentials_refused"
        case upstreamConnectFailed = "upstream_connect_failed"
        case upstreamTLSFailed = "upstream_tls_failed"
        case upstreamTimeout = "upstream_timeout"
        case upstreamConnectTimeout = "upstream_connect_timeout"
        case upstreamProtocolError = "upstream_protocol_error"
        case upstreamClosed = "upstream_closed"
        case credentialUnavailable = "credential_unavailable"
        case credentialTimeout = "credential_timeout"
        case shuttingDown = "shutting_down"
        case tooManyRedirects = "too_many_redirects"
        case deadlineExceeded = "deadline_exceeded"
        case needsConsent = "needs_consent"
        /// A path with an encoded delimiter, a backslash or a climb above the root (see `RequestPath`).
        case invalidPath = "invalid_path"
        /// The destination is one of the proxy's own listeners, or a loopback, link-local or metadata address
        /// the request may not reach (see `DestinationPolicy`).
        case destinationRefused = "destination_refused"
        /// A CONNECT passthrough to a port not in `connect_ports`.
        case connectPortRefused = "connect_port_refused"
        /// `Connection` names a framing, routing or proxy-written field (RFC 9110 §7.6.1).
        case connectionOptionRefused = "connection_option_refused"
        /// TRACE to a route that injects a credential (a TRACE-enabled upstream would echo it back).
        case traceRefused = "trace_refused"
        /// `Via` already names this proxy: forwarding again would loop (RFC 9110 §7.6.3).
        case forwardingLoop = "forwarding_loop"
        /// The request head did not arrive whole within `limits.header_timeout_ms`.
        case headerTimeout = "request_header_timeout"
        /// Inside an intercepted CONNECT tunnel, a request whose `Host` (or absolute-form authority) names
        /// another host or port than the CONNECT did (RFC 9110 §15.5.20).
        case misdirectedRequest = "misdirected_request"
        /// No leaf certificate could be made for an intercepted CONNECT's host.
        case interceptionFailed = "interception_failed"
    }

    public let code: Code
    public let detail: String
    /// The HTTP status sent; parse errors bring their own (400, 414, 431, 501, 505).
    public let status: Int
    public var route: String?
    public var connection: String?

    public init(_ code: Code, _ detail: String, status: Int? = nil, route: String? = nil, connection: String? = nil) {
        self.code = code
        self.detail = detail
        self.status = status ?? Self.defaultStatus(code)
        self.route = route
        self.connection = connection
    }

    /// A request the codec rejected.
    public init(parseError: HTTP1ParseError) {
        self.init(.badRequest, parseError.description, status: parseError.status)
    }

    private static func defaultStatus(_ code: Code) -> Int {
        switch code {
        case .badRequest, .invalidPath, .connectionOptionRefused: 400
        case .headerTimeout: 408
        case .denied, .connectRefusedForRoute, .plaintextCredentials, .destinationRefused, .connectPortRefused,
            .traceRefused:
            403
        case .forwardingLoop: 508
        case .misdirectedRequest: 421
        case .noRoute: 404
        case .upstreamTimeout, .upstreamConnectTimeout, .credentialTimeout, .deadlineExceeded: 504
        case .upstreamConnectFailed, .upstreamTLSFailed, .upstreamProtocolError, .upstreamClosed,
            .credentialUnavailable, .tooManyRedirects, .needsConsent, .interceptionFailed:
            502
        case .shuttingDown: 503
        }
    }

    /// The `error` string: the code, except that a parse error names its rule.
    public var errorName: String { code.rawValue }

    public var description: String { "\(code.rawValue): \(detail)" }

    /// The JSON body: `{"error":..., "detail":..., "route":..., "connection":...}`. The detail may quote
    /// upstream or provider text: every value known to `scrubber` (the process's) is scrubbed from it.
    public func jsonBody(scrubber: SecretScrubber) -> [UInt8] {
        let detail = scrubber.scrub(detail)
        var json = "{\"error\":\(JSONString.quote(errorName)),\"detail\":\(JSONString.quote(detail))"
        if let route { json += ",\"route\":\(JSONString.quote(route))" }
        if let connection { json += ",\"connection\":\(JSONString.quote(connection))" }
        json += "}\n"
        return Array(json.utf8)
    }

    /// The head of the answer whose body is `jsonBody` (`bodyCount` bytes): for HTTP/1 (`response`) and HTTP/2.
    public func responseHead(bodyCount: Int) -> HTTPResponseHead {
        var head = HTTPResponseHead(status: status, reason: HTTPReasonPhrase.phrase(for: status))
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(bodyCount))
        head.headers.add(name: "X-Latchkey-Error", value: errorName)
        return head
    }

    /// A complete response: head plus JSON body (scrubbed with `scrubber`). `close` adds `Connection: close`.
    public func response(close: Bool, scrubber: SecretScrubber) -> [UInt8] {
        let body = jsonBody(scrubber: scrubber)
        var head = responseHead(bodyCount: body.count)
        if close { head.headers.add(name: "Connection", value: "close") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + body.count)
        HTTP1Serializer.appendResponseHead(head, to: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }
}

