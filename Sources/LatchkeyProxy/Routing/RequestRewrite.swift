import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP

/// The request rules around routing (RFC 9110 §7.6): what is refused before a route is looked up, what
/// TRACE, OPTIONS and `Max-Forwards` change once it is, and the head exactly as it goes upstream.
/// Pure, like `RequestPlanner`: no I/O, every rule unit-tested directly.
enum RequestRewrite {
    /// Plans a request from a client: `refusal(for:pseudonym:)`, then `RequestPlanner.plan`, then
    /// `applyMethodRules`. `OPTIONS *` with `Max-Forwards: 0` asks about this proxy itself and gets a 200
    /// (RFC 9110 §9.3.7); any other `OPTIONS *` is refused by the planner. A followed redirect skips the
    /// refusals (its head was checked here) but not the method rules. Inside an intercepted tunnel
    /// (`origin` set) `RequestPlanner.planIntercepted` plans instead of `RequestPlanner.plan`.
    /// A WebSocket handshake (`WebSocketHandshake.classify`, which needs the body's `framing`) is refused
    /// with 400 when malformed, else its forward plan is marked `upgradesToWebSocket`.
    static func plan(
        _ head: HTTPRequestHead, runtime: ProxyRuntime, pseudonym: String = ViaField.pseudonym,
        origin: InterceptedOrigin? = nil, framing: HTTPBodyFraming = .none
    ) -> RequestPlan {
        if let refusal = refusal(for: head, pseudonym: pseudonym) { return .reject(refusal) }
        // Only a request with an `Upgrade` field can be a handshake: the common request skips the lists.
        var isWebSocket = false
        if head.headers.contains(.upgrade) {
            switch WebSocketHandshake.classify(head, framing: framing) {
            case .plain: break
            case .refused(let reason): return .reject(ProxyError(.badRequest, reason))
            case .webSocket: isWebSocket = true
            }
        }
        if head.method == "OPTIONS", head.target == "*", maxForwards(head.headers) == .some(.some(0)) {
            return .respond(LocalResponse(status: 200))
        }
        var planned =
            if let origin {
                RequestPlanner.planIntercepted(head, origin: origin, runtime: runtime)
            } else {
                RequestPlanner.plan(head, runtime: runtime)
            }
        // Only TRACE, TRACK and OPTIONS have rules: any other plan is returned as it is, not passed through
        // `applyMethodRules` (which cost a copy of the whole plan and its destruction, ~600 instructions).
        if hasMethodRules(head.method) { planned = applyMethodRules(to: planned, head: head, runtime: runtime) }
        guard isWebSocket, case .forward(var forward) = planned else { return planned }
        forward.upgradesToWebSocket = true
        if let route = forward.route {
            // The route's HTTP version after all (the planner chose HTTP/1.1 for any `Upgrade`): an h2 upstream
            // that offers extended CONNECT carries the WebSocket on a stream (RFC 8441, translated by
            // `HTTP2UpstreamStream`); one that does not makes the exchange go again over HTTP/1.1.
            forward.http2 = route.settings.http2
            if forward.endpoint.isTLS { forward.tls = route.tls }
        }
        return .forward(forward)
    }

    // MARK: Before routing

    /// Why `head` is refused whatever its route, or nil:
    /// - `Connection` nominating a framing, routing or proxy-written field (400): removed as hop-by-hop it
    ///   would unframe the body (request smuggling) or drop what the proxy relies on (RFC 9110 §7.6.1,
    ///   RFC 9112 §6.3). `Connection: TE` stays allowed (RFC 9110 §10.1.4 requires it with `TE`).
    /// - `Via` naming this proxy (508): the request came back to the proxy that sent it (RFC 9110 §7.6.3).
    ///   508 Loop Detected rather than 502: nothing upstream failed, and clients and the proxy's own retry
    ///   policy (which retry 502) must not go round again.
    static func refusal(for head: HTTPRequestHead, pseudonym: String) -> ProxyError? {
        if let option = head.headers.firstProtectedConnectionOption() {
            return ProxyError(
                .connectionOptionRefused,
                "Connection must not name \(option.lowercased()): framing, Host, Via and credential fields are not hop-by-hop (RFC 9110 §7.6.1)"
            )
        }
        if ViaField.names(pseudonym, in: head.headers) {
            return ProxyError(
                .forwardingLoop,
                "the request has already passed this proxy (Via names \(pseudonym)): its route leads back to the proxy")
        }
        return nil
    }

    // MARK: After routing

    /// Whether `method` is one `applyMethodRules` may change the plan for.
    static func hasMethodRules(_ method: String) -> Bool {
        method == "OPTIONS" || isTraceOrTrack(method)
    }

    /// TRACE and TRACK, in any case: both echo the request back.
    private static func isTraceOrTrack(_ method: String) -> Bool {
        method.asciiCaseInsensitiveEquals("TRACE") || method.asciiCaseInsensitiveEquals("TRACK")
    }

    /// TRACE and OPTIONS with `Max-Forwards` (RFC 9110 §7.6.2): 0 makes the proxy the final recipient
    /// (TRACE: a `message/http` echo without credential fields, §9.3.8; OPTIONS: 200 with no content),
    /// any other value is decremented on the forwarded head; an invalid one is a 400. Then TRACE (and
    /// TRACK, its IIS twin), in any letter case, to a route that injects a credential is refused with 403:
    /// a TRACE-enabled upstream would echo the injected credential back to the client. 403, not 405: the
    /// upstream may well allow TRACE; it is the proxy's policy that refuses it, like its other refusals.
    /// Other plans pass through unchanged.
    static func applyMethodRules(to plan: consuming RequestPlan, head: HTTPRequestHead, runtime: ProxyRuntime) -> RequestPlan {
        let method = head.method
        let isTrace = isTraceOrTrack(method)
        // Every other method leaves the plan as it is, without taking it apart (a copy of the whole plan).
        guard hasMethodRules(method), case .forward(var forward) = plan else { return plan }
        if method == "TRACE" || method == "OPTIONS" {
            switch maxForwards(head.headers) {
            case nil:
                break
            case .some(nil):
                return .reject(
                    ProxyError(.badRequest, "Max-Forwards must be a single decimal number (RFC 9110 §7.6.2)"))
            case .some(.some(0)):
                return .respond(method == "TRACE" ? traceEcho(head, runtime: runtime) : LocalResponse(status: 200))
            case .some(.some(let hops)):
                forward.head.headers.replaceOrAdd(name: "Max-Forwards", value: String(hops - 1))
            }
        }
        if isTrace, forward.route?.injectsCredentials == true
        {
            let route = forward.route?.settings
            return .reject(
                ProxyError(
                    .traceRefused,
                    "\(method) is refused on route \(route?.name ?? "-"): it injects a credential, which the upstream would echo back",
                    route: route?.name, connection: route?.connection))
        }
        return .forward(forward)
    }

    /// `Max-Forwards`: nil when absent, `.some(nil)` when invalid (not exactly one field of digits), else the
    /// value (saturated at 2^31: a hop count never needs more).
    static func maxForwards(_ headers: HTTPHeaders) -> Int?? {
        guard headers.contains(.maxForwards) else { return nil }
        let values = headers.values(for: "Max-Forwards")
        guard values.count == 1, let text = values.first, !text.isEmpty,
            text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return .some(nil) }
        let limit = 1 << 31
        return .some(text.utf8.reduce(0) { min($0 * 10 + Int($1 - 0x30), limit) })
    }

    /// Fields a TRACE echo never reflects: credentials the client sent, and every header a configured
    /// connection injects (RFC 9110 §9.3.8: exclude fields likely to hold sensitive data).
    static func traceEcho(_ head: HTTPRequestHead, runtime: ProxyRuntime) -> LocalResponse {
        var sensitive = AccessLog.redactedFields
        for connection in runtime.configuration.connections {
            if case .apiKey(_, let header, _) = connection.kind { sensitive.insert(header.lowercased()) }
        }
        var echoed = head
        echoed.headers.removeAll { sensitive.contains($0.name.lowercased()) }
        var body: [UInt8] = []
        HTTP1Serializer.appendRequestHead(echoed, to: &body)
        return LocalResponse(status: 200, contentType: "message/http", body: body)
    }

    // MARK: The head as written upstream

    /// The head of one attempt exactly as it goes upstream — the one request-rewrite step, called once per
    /// attempt (a retry, a 401 replay and a followed redirect each get a fresh head from their plan):
    /// 1. the plan's request-target (normalised and mapped to the upstream by the planner), this proxy's own
    ///    version (HTTP/1.1, whatever the client spoke; RFC 9110 §6.2);
    /// 2. hop-by-hop fields go (RFC 9110 §7.6.1) — except that a client's `TE: trailers` goes on as this
    ///    proxy's own `TE: trailers` (with `Connection: TE`, §10.1.4): the proxy passes trailers through, and
    ///    HTTP/2 upstreams such as gRPC servers require it (RFC 9113 §8.2.2) — and `Proxy-Authorization`, meant for this proxy
    ///    (§11.7.2); on a routed request every client `Authorization` too, whatever its case or count: the
    ///    proxy owns authentication there (§11.6.2). A request no route serves keeps the client's own;
    /// 3. the credential, replacing any field of its name;
    /// 4. `Host` from the upstream's authority (RFC 9112 §3.2.2: a proxy replaces it from the target);
    /// 5. this proxy's `Via` entry, naming the version the request was received with (RFC 9110 §7.6.3);
    /// 6. last, the framing from the parsed `framing` (`HTTPHeaders.setFraming`), so that no field the client
    ///    sent, no `Connection` option and no injected header can change where the body ends;
    /// 7. for a WebSocket handshake (`plan.upgradesToWebSocket`), `Upgrade: websocket` and `Connection:
    ///    Upgrade` again after step 2 removed them (RFC 6455 §4.1); `Sec-WebSocket-*` were never removed.
    ///
    /// It starts from the plan's head: the client's fields with the upstream target.
    /// `storage`: an earlier upstream head's header storage to build into (`ExchangeUpstream.takeSpareRequestHeaders`).
    static func upstreamHead(
        plan: ForwardPlan, credential: InjectedCredential?, framing: HTTPBodyFraming, receivedVersion: HTTPVersion,
        reusing storage: consuming HTTPHeaders = HTTPHeaders()
    ) -> HTTPRequestHead {
        // Steps 1, 2 and the removing half of 6 in one pass, into storage with room for what is added. The
        // new head is built from the plan's parts (copying the whole head first cost a retain and a release
        // of each of its references).
        let credentialBytes = credential.map { $0.headerName.utf8.count + $0.headerValue.value.utf8.count } ?? 0
        var dropped: KnownFieldNames = [.proxyAuthorization, .framing]
        if plan.route != nil { dropped.insert(.authorization) }
        var headers = plan.head.headers.forwarded(
            dropping: dropped,
            room: HTTPHeaders.Room(fields: 8, bytes: credentialBytes + plan.endpoint.authority.utf8.count + 160),
            reusing: consume storage)
        if plan.head.headers.wantsTrailers {
            headers.add(name: "TE", value: "trailers")
            headers.add(name: "Connection", value: "TE")
        }
        if let credential { headers.replaceOrAdd(credential.field) }
        headers.replaceOrAdd(plan.endpoint.hostField)
        headers.add(ViaField.field(receivedVersion: receivedVersion))
        headers.setFraming(framing)
        if plan.upgradesToWebSocket { WebSocketHandshake.addUpgradeFields(to: &headers) }
        return HTTPRequestHead(method: plan.head.method, target: plan.head.target, version: .http1_1, headers: headers)
    }

    /// Request trailers (RFC 9110 §6.5) as they go upstream with the end of the body, on every attempt: the
    /// fields a trailer section must not carry go (`HTTPHeaders.fieldsNotAllowedInTrailers`: framing,
    /// routing, `Authorization`, `Proxy-Authorization`, hop-by-hop), and so does any field named like the
    /// route's credential (`credentialHeader`), so that a trailer can neither replace the injected credential
    /// nor smuggle a second one past the head's rules.
    static func upstreamTrailers(_ trailers: HTTPHeaders, credentialHeader: String?) -> HTTPHeaders {
        guard trailers.count > 0 else { return trailers }
        var kept = trailers
        kept.removeFieldsNotAllowedInTrailers(alsoRemoving: credentialHeader.map { [$0.lowercased()] } ?? [])
        return kept
    }
}
