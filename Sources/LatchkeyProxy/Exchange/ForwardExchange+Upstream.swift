import LatchkeyHTTP

/// What the current upstream connection reports, turned into machine events. Reports from a connection the
/// exchange already let go of are ignored.
extension ForwardExchange {
    func upstreamDidBecomeReady(_ upstream: any ExchangeUpstream) {
        if let resumed = upstream.resumedTLSSession {
            (plan.route?.metrics ?? runtime.unmatchedMetrics).recordTLSHandshake(resumed: resumed)
        }
        guard upstream === self.upstream else { return }
        // The source learns what the server chose by ALPN; an `h2` connection comes back as a stream of the
        // HTTP/2 connection that took it over, which serves this exchange instead.
        self.upstream = upstreams.upstreamDidConnect(upstream, tls: machine.plan.tls, handler: self)
        handle(.upstreamReady)
    }

    /// Everything one read produced goes to the client in one write: a small response (head, body and end in
    /// one read) costs one `send` instead of three.
    func upstream(_ upstream: any ExchangeUpstream, didReceive events: inout [HTTP1ResponseEvent]) {
        defer { client.flushResponse() }
        let now = ExchangeInstant(of: loop)  // one reading for everything this read produced
        // The decoder reports trailers right before `.end`, in the same batch.
        var trailers = HTTPHeaders()
        for index in events.indices {
            guard upstream === self.upstream, !machine.wishes.finished else { return }
            // Taken out of the array, its payload moves into the machine's event and on to the client alone
            // (the response head is rewritten in place there), not copied.
            switch events[index].take() {
            case .informational(let head):
                handle(.responseInterim(head, clientBacklog: client.pendingWriteBytes), now: now)
            case .head(let head, let framing):
                if machine.plan.route?.settings.debug == true {
                    log.debugHead(
                        route: plan.routeName ?? "-", attempt: machine.attemptNumber, direction: "response",
                        startLine: "\(head.status) \(head.reason)", headers: head.headers,
                        credentialHeader: machine.credential?.headerName)
                }
                if head.status == 401 { (plan.route?.metrics ?? runtime.unmatchedMetrics).recordUnauthorized() }
                handle(.responseHead(head, framing), now: now)
            case .body(let chunk):
                handle(.responseBody(chunk, clientBacklog: client.pendingWriteBytes), now: now)
            case .trailers(let fields):
                trailers = fields
            case .end:
                handle(.responseEnd(trailers: trailers), now: now)
            }
        }
    }

    func upstreamDidDrainWrites(_ upstream: any ExchangeUpstream) {
        guard upstream === self.upstream else { return }
        handle(.upstreamDrained)
    }

    func upstream(_ upstream: any ExchangeUpstream, didFail failure: UpstreamFailure) {
        guard upstream === self.upstream else { return }
        self.upstream = nil
        handle(.upstreamFailed(failure, stale: upstream.failedBeforeAnyResponseByte))
    }
}
