import Foundation
import LatchkeyHTTP

extension ForwardExchange {
    /// Everything one read produced goes to the client in one write: a small response (head, body and end
    /// in one read) costs one `send` instead of three.
    func upstream(_ upstream: UpstreamConnection, didReceive events: [HTTP1ResponseEvent]) {
        var output: [UInt8] = []
        defer { if !output.isEmpty { client.write(output) } }
        for event in events {
            guard upstream === self.upstream, !finished else { return }
            switch event {
            case .informational(let head):
                // RFC 9110 §15.2: a proxy forwards 1xx responses, except to HTTP/1.0 clients.
                guard clientIsHTTP11 else { continue }
                HTTP1Serializer.appendResponseHead(ResponseRewrite.interimHead(head), to: &output)
                // An upstream may send any number of 1xx: they count against the client's write buffer too.
                if client.pendingWriteBytes + output.count > Self.highWaterMark, !pausedUpstreamForDownload {
                    pausedUpstreamForDownload = true
                    upstream.stream.setReadingPaused(true)
                }
            case .head(let head, let framing):
                if let route = plan.route, route.settings.debug {
                    log.debugHead(
                        route: route.settings.name, attempt: attemptNumber, direction: "response",
                        startLine: "\(head.status) \(head.reason)", headers: head.headers,
                        credentialHeader: credential?.headerName)
                }
                if head.status == 101 {
                    // RFC 9110 §15.2.2: a server switches protocols only when the request asked to, and the proxy
                    // never forwards Upgrade (hop-by-hop). An unsolicited 101 leaves the connection speaking
                    // something else: it is closed, and the client gets a 502.
                    abandonAttempt()
                    fail(
                        errorWithHistory(
                            ProxyError(
                                .upstreamProtocolError,
                                "\(plan.endpoint.scheme)://\(plan.endpoint.authority) answered 101 Switching Protocols to a request that asked for no upgrade (the proxy does not forward Upgrade)",
                                route: plan.routeName, connection: plan.connectionName)))
                    return
                }
                if redirectOrRetry(after: head) { return }
                startResponse(head, framing: framing, into: &output)
            case .body(let chunk):
                responseBytes += chunk.count
                if responseChunked {
                    HTTP1Serializer.appendChunk(chunk, to: &output)
                } else if output.isEmpty {
                    output = chunk
                } else {
                    output.append(contentsOf: chunk)
                }
                if client.pendingWriteBytes + output.count > Self.highWaterMark, !pausedUpstreamForDownload {
                    pausedUpstreamForDownload = true
                    upstream.stream.setReadingPaused(true)
                }
            case .end:
                if responseChunked { HTTP1Serializer.appendLastChunk(to: &output) }
                client.write(output)
                output = []
                // An answer that came before the whole request body: neither connection can be reused, the
                // rest of the body is still on its way.
                complete(forceClientClose: !requestComplete)
                return
            }
        }
    }

    /// Decides, before anything reaches the client, whether this response head ends the attempt:
    /// a 401 with a renewable credential (replayed once), a retryable status, or a redirect to follow.
    /// Returns true when the attempt was abandoned.
    private func redirectOrRetry(after head: HTTPResponseHead) -> Bool {
        let status = head.status
        attemptHistory.append("attempt \(attemptNumber): \(status) from \(plan.endpoint.scheme)://\(plan.endpoint.authority)")
        let canReplay = replayable && requestComplete
        if status == 401 { (plan.route?.metrics ?? runtime.unmatchedMetrics).recordUnauthorized() }
        if status == 401, injectsCredential, let route = plan.route, let source = route.source,
            source.renewsOnRejection, let rejected = credential
        {
            // RFC 6750 §3.1: the token was rejected. It is dropped either way, so the next request gets a new
            // one; this request is replayed with a new token once, when its body was kept. Never a loop.
            source.invalidate(rejected, for: route.credentialKey)
            if !replayedAfterRejection, canReplay {
                replayedAfterRejection = true
                abandonAttempt()
                rewindBody()
                beginAttempt()
                return true
            }
        }
        if policy.maxRedirects > redirectsFollowed, let location = head.headers.first("Location"),
            let next = RedirectRule.follow(status: status, method: plan.head.method)
        {
            if next.keepsBody, !canReplay, requestFraming != .none {
                return false  // 307/308 need the body again; it was not kept, so the client gets the 3xx
            }
            if followRedirect(to: location, method: next.method, keepsBody: next.keepsBody) { return true }
        } else if policy.maxRedirects > 0, redirectsFollowed >= policy.maxRedirects,
            RedirectRule.follow(status: status, method: plan.head.method) != nil, head.headers.contains("Location")
        {
            abandonAttempt()
            fail(
                ProxyError(
                    .tooManyRedirects,
                    "stopped after \(redirectsFollowed) redirects (max_redirects \(policy.maxRedirects)); \(attemptHistory.joined(separator: "; "))",
                    route: originalPlan.routeName, connection: originalPlan.connectionName))
            return true
        }
        let outcome = AttemptOutcome.status(status)
        guard policy.isRetryable(outcome, redirectFollowed: false), canReplay else { return false }
        let retryAfter = RetryAfter.applies(toStatus: status)
            ? head.headers.first("Retry-After").flatMap { RetryAfter.parse($0, now: Date()) } : nil
        return scheduleRetry(retryAfter: retryAfter)
    }

    private func startResponse(_ upstreamHead: HTTPResponseHead, framing: HTTPBodyFraming, into output: inout [UInt8]) {
        headTimer?.cancel()
        headTimer = nil
        upstreamDuration = upstreamStartedAt.map { ContinuousClock.now - $0 }
        responseStarted = true
        responseStatus = upstreamHead.status
        let connectionTokens = upstreamHead.headers.listElements(for: "Connection")
        if upstreamHead.version != .http1_1 || connectionTokens.contains(where: { $0.lowercased() == "close" }) {
            upstreamReusable = false
        }
        if framing == .untilClose { upstreamReusable = false }
        var (head, delivery) = ResponseRewrite.clientHead(
            upstreamHead, framing: framing, requestMethod: plan.head.method, clientIsHTTP11: clientIsHTTP11)
        responseChunked = delivery == .chunked
        responseUntilClose = delivery == .untilClose
        if !keepClientAlive { head.headers.add(name: "Connection", value: "close") }
        output.reserveCapacity(512)
        HTTP1Serializer.appendResponseHead(head, to: &output)
    }

    /// During a graceful shutdown the connection closes after this response, and the response says so
    /// (RFC 9112 §9.6: `Connection: close`), so clients do not send another request into a closing socket.
    var keepClientAlive: Bool { clientWantsKeepAlive && !responseUntilClose && !client.serverIsDraining }
}
