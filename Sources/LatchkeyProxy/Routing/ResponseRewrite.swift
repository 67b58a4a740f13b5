import LatchkeyHTTP

/// The response head as the client gets it: hop-by-hop fields and proxy challenges removed, this proxy's
/// `Via` added, and the framing written from the parsed framing (never from the upstream's fields, which a
/// `Connection: Content-Length` could otherwise remove). Pure.
enum ResponseRewrite {
    /// How the body travels to the client.
    enum Delivery: Equatable {
        /// As framed upstream: `Content-Length` (written afresh) or no body.
        case asFramed
        /// Re-chunked (a chunked or close-delimited body to an HTTP/1.1 client).
        case chunked
        /// Until the connection closes (a chunked or close-delimited body to an HTTP/1.0 client).
        case untilClose
    }

    /// The final response head for the client and how its body is delivered. `requestMethod` is the method
    /// the upstream answered (HEAD and 304 keep the representation's `Content-Length`, RFC 9110 §8.6).
    /// `upstream` is consumed: its fields are rewritten in place (`HTTPHeaders.removeFieldsNotForwarded`), not
    /// copied into a new head.
    static func clientHead(
        _ upstream: consuming HTTPResponseHead, framing: HTTPBodyFraming, requestMethod: String, clientIsHTTP11: Bool
    ) -> (head: HTTPResponseHead, delivery: Delivery) {
        var head = upstream
        let receivedVersion = head.version
        // No body follows. For HEAD and 304 a Content-Length describes the representation, not this message,
        // and may be passed on (normalised); anywhere else (204, 1xx) it must not be sent. Read before the
        // framing fields go.
        var informativeLength: Int?
        if case .none = framing, requestMethod == "HEAD" || head.status == 304 {
            informativeLength = head.headers.first(.contentLength).flatMap { Int($0) }
        }
        head.version = .http1_1
        sanitize(&head.headers, receivedVersion: receivedVersion)
        switch framing {
        case .none:
            head.headers.setFraming(informativeLength.map { .contentLength($0) } ?? .none)
            return (head, .asFramed)
        case .contentLength:
            head.headers.setFraming(framing)
            return (head, .asFramed)
        case .chunked, .untilClose:
            head.headers.setFraming(clientIsHTTP11 ? .chunked : .none)
            return (head, clientIsHTTP11 ? .chunked : .untilClose)
        }
    }

    /// An interim (1xx) response for the client: sanitised, never framed (RFC 9110 §8.6, §15.2).
    static func interimHead(_ upstream: HTTPResponseHead) -> HTTPResponseHead {
        var head = upstream
        sanitize(&head.headers, receivedVersion: upstream.version)
        head.headers.setFraming(.none)
        return head
    }

    /// Response trailers for the client: what a trailer section must not carry (RFC 9110 §6.5.1) and
    /// hop-by-hop fields go, as in heads the proxy challenges do.
    static func clientTrailers(_ trailers: HTTPHeaders) -> HTTPHeaders {
        guard trailers.count > 0 else { return trailers }
        var kept = trailers
        kept.removeFieldsNotAllowedInTrailers(alsoRemoving: proxyChallengeFields)
        return kept
    }

    /// The proxy's challenges (RFC 9110 §11.7.1, §11.7.2): as names for trailers, as known names for heads.
    private static let proxyChallengeFields = ["proxy-authenticate", "proxy-authentication-info"]
    private static let proxyChallenges: KnownFieldNames = [.proxyAuthenticate, .proxyAuthenticationInfo]

    /// Hop-by-hop fields (RFC 9110 §7.6.1) go; so do `Proxy-Authenticate` and `Proxy-Authentication-Info`,
    /// which address the next outbound client only, i.e. this proxy (RFC 9110 §11.7.1, §11.7.2); `Via` gets
    /// this proxy's entry (RFC 9110 §7.6.3). The framing fields go too: every caller writes them afresh
    /// (`HTTPHeaders.setFraming`).
    static func sanitize(_ headers: inout HTTPHeaders, receivedVersion: HTTPVersion) {
        headers.removeFieldsNotForwarded(dropping: proxyChallenges.union(.framing))
        headers.add(ViaField.field(receivedVersion: receivedVersion))
    }
}
