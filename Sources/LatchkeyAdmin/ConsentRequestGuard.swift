import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

/// Keeps the state-changing consent endpoints (`GET /connections/NAME/connect`,
/// `POST /connections/NAME/disconnect`) out of reach of a web page in the operator's browser: cross-site
/// request forgery and DNS rebinding. Pure: the admin connection hands it the request's fields.
///
/// - `Host` must name this listener: `localhost`, a loopback address, or the address the admin listener is
///   bound to. A DNS-rebinding page reaches 127.0.0.1 under its own name, which it cannot hide from `Host`
///   (RFC 9110 §7.2).
/// - `Origin`, when sent, must be this listener's own origin (RFC 6454 §7; `null` is refused), and
///   `Sec-Fetch-Site`, when sent, `same-origin` or `none` (a typed URL or bookmark) — never `same-site` or
///   `cross-site` (Fetch Metadata Request Headers, W3C).
/// - A POST must carry `X-Latchkey-Admin` (the CLI sends `1`): a header no HTML form or "simple" request
///   can set, so a cross-site page would need a CORS preflight, which the admin listener never grants.
///
/// The OAuth callback is not guarded: it is a plain browser navigation from the provider, protected by its
/// single-use `state` (RFC 6749 §10.12).
struct ConsentRequestGuard {
    /// The header a POST to a consent endpoint must carry.
    static let adminHeader = "X-Latchkey-Admin"

    /// The host the admin listener is bound to (nil when unknown); a wildcard bind adds nothing.
    let listenerHost: String?

    /// nil when the request may proceed, else the 403 detail (fixed text; never echoes a request field).
    func refusal(method: String, headers: HTTPHeaders) -> String? {
        let hosts = headers.values(for: "Host")
        guard hosts.count == 1, let host = hosts.first, isThisListener(host) else {
            return
                "the Host header does not name this admin listener; use http://localhost:PORT or http://127.0.0.1:PORT"
        }
        if let site = headers.first("Sec-Fetch-Site")?.lowercased(), site != "same-origin", site != "none" {
            return "cross-site request refused (Sec-Fetch-Site); open the admin URL directly or use the latchkey CLI"
        }
        if let origin = headers.first("Origin"), origin.lowercased() != "http://" + host.lowercased() {
            return "cross-origin request refused (Origin); open the admin URL directly or use the latchkey CLI"
        }
        if method != "GET", method != "HEAD", headers.first(Self.adminHeader).map({ !$0.isEmpty }) != true {
            return
                "a \(method) to a consent endpoint needs the header \(Self.adminHeader): 1 (the latchkey CLI sends it)"
        }
        return nil
    }

    /// Whether `hostField` (`host[:port]`, `[v6]:port`) names a loopback address, `localhost` or the bound host.
    /// The field is read by the one `Host` parser (`HostHeader`), so the host is compared in its canonical
    /// spelling (lower-cased, no brackets, no trailing dot); a field that does not parse names nothing.
    func isThisListener(_ hostField: String) -> Bool {
        guard let host = HostHeader.parse(hostField, defaultPort: 80)?.host else { return false }
        if AddressScope.isLoopback(host: host) { return true }
        guard let listenerHost = listenerHost.flatMap(Authority.canonicalHost), listenerHost != "0.0.0.0",
            listenerHost != "::"
        else { return false }
        return host == listenerHost
    }
}
