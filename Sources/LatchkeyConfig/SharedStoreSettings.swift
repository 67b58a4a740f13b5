/// `shared_store:` — where replicas share access tokens and a refresh lock (issue 15). Validated; the
/// password is a `SecretString`.
public struct SharedStoreSettings: Sendable, Equatable {
    /// `redis:` host (a name or an IP literal), port (default 6379) and database number (the path, default 0).
    public var host: String
    public var port: Int
    public var database: Int
    /// `rediss://`: TLS, verified against `tls.ca_file` or the system trust store.
    public var usesTLS: Bool
    /// `tls:` `ca_file`, `cert_file`, `key_file` (absolute paths); only with `rediss://`.
    public var caFile: String?
    public var certificateFile: String?
    public var privateKeyFile: String?
    /// `username:` (Redis 6 ACL) and `password:`; `AUTH` is sent when a password is set.
    public var username: String?
    public var password: SecretString?
    /// `key_prefix:` prepended to every key, so several deployments can share one Redis. Default `latchkey/`.
    public var keyPrefix: String = "latchkey/"
    /// `timeout_ms:` connect and per-command timeout; past it a replica works on its own (default 250).
    public var timeoutMs: Int = 250
    /// `lease_ms:` how long a fetch lease lives unless renewed (renewed every third of it while the fetch runs).
    public var leaseMs: Int = 10_000

    public init(host: String, port: Int = 6379, database: Int = 0, usesTLS: Bool = false) {
        self.host = host
        self.port = port
        self.database = database
        self.usesTLS = usesTLS
    }

    /// `redis[s]://host:port/db`, for logs and `check` (never credentials).
    public var displayURL: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "rediss" : "redis")://\(shownHost):\(port)/\(database)"
    }
}
