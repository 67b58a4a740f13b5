/// Whether a connection can put a credential on a request right now, derived from its
/// `CredentialSourceStatus`: for `GET /connections/health`, the `latchkey_connection_up` gauge and the
/// readiness of connections marked `required_for_readiness`. Holds no token; `reason` quotes only
/// status text the admin API already scrubs.
public enum ConnectionHealth: Sendable, Equatable {
    /// Fixed credentials, a usable (unexpired) token, or an authorization-code grant that can renew one.
    case up
    /// No token yet and no fetch has failed: the first fetch is queued or in flight. Not usable, not failed.
    case starting
    /// No usable credential: the last fetch failed, consent is missing, or the source cannot work.
    case down(reason: String)

    public init(_ status: CredentialSourceStatus) {
        switch status {
        case .fixed:
            self = .up
        case .unavailable(let reason):
            self = .down(reason: reason)
        case .token(let status):
            if status.hasToken {
                self = .up
            } else if let error = status.lastError {
                self = .down(reason: error.detail)
            } else if status.fetchInFlight || status.counters.tokenRequested == 0 {
                // Never attempted counts as starting: the start-up fetch is queued (`warmUp`), and "down"
                // always names a failure an operator can act on.
                self = .starting
            } else {
                self = .down(reason: "no usable token (expired, not renewed yet)")
            }
        case .authorizationCode(let status):
            if status.hasAccessToken || status.state == .connected {
                self = .up
            } else {
                self = .down(reason: status.reason ?? status.lastError?.detail ?? status.state.name)
            }
        }
    }

    /// 1 for `latchkey_connection_up`: only a usable credential counts.
    public var isUp: Bool { self == .up }

    /// Whether a connection with `required_for_readiness: true` lets `/readyz` pass: a usable credential,
    /// or its first fetch still under way (readiness fails once that attempt has failed).
    public var allowsReadiness: Bool {
        if case .down = self { return false }
        return true
    }

    /// Why the connection is not up, for `/connections/health` and `/readyz`; nil when it is.
    public var reason: String? {
        switch self {
        case .up: nil
        case .starting: "first token fetch under way"
        case .down(let reason): reason
        }
    }

    /// A status word for JSON: `up`, `starting` or `down`.
    public var word: String {
        switch self {
        case .up: "up"
        case .starting: "starting"
        case .down: "down"
        }
    }
}
