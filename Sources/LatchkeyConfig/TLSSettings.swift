/// Upstream TLS settings (`tls:`) of a route or an OAuth connection's token endpoints, after the top-level
/// `tls:` defaults were merged in key by key (`ConfigDecoder.decodeTLS`): a key a route writes wins, a key it
/// leaves out comes from the top-level block, and one written nowhere has the default below.
///
/// Adding a key: a field here (with its default), its name in `ConfigDecoder.tlsKeys`, one line in
/// `ConfigDecoder.decodeTLSKeys`, a file path also in `watchedFiles`, and what the context does with it in
/// `TLSSettings.clientConfiguration` (LatchkeyProxy).
public struct TLSSettings: Sendable, Equatable {
    /// `ca_file:` PEM bundle to trust instead of the system store.
    public var caFile: String?
    /// `insecure_skip_verify:` no certificate or hostname verification (warned about at start).
    public var insecureSkipVerify: Bool = false
    /// `cert_file:` / `key_file:` client certificate for mutual TLS.
    public var certFile: String?
    public var keyFile: String?
    /// `server_name:` SNI and verification name override (default: the upstream host).
    public var serverName: String?
    /// `min_version:` the lowest protocol version offered and accepted; default 1.2.
    public var minVersion: TLSMinimumVersion = .tls12
    /// `ciphers:` OpenSSL cipher list for TLS 1.2 (e.g. `ECDHE+AESGCM`); nil keeps OpenSSL's default.
    public var ciphers: TLSPolicyText?
    /// `ciphersuites:` TLS 1.3 suites, colon-separated (e.g. `TLS_AES_256_GCM_SHA384`); nil keeps the default.
    public var ciphersuites: TLSPolicyText?
    /// `curves:` key-exchange groups, most preferred first (e.g. `X25519:P-256`); nil keeps the default.
    public var curves: TLSPolicyText?
    /// `revocation:` `off` (default), `soft` or `hard`: how the upstream's certificate chain is checked for
    /// revocation (stapled OCSP, `crl_file`, distribution-point CRLs). Ignored with `insecure_skip_verify`.
    public var revocation: TLSRevocationMode = .off
    /// `crl_file:` CRLs (PEM, several allowed, or one DER) supplied by the operator, used when `revocation`
    /// is on; watched for rotation.
    public var crlFile: String?

    public init(
        caFile: String? = nil, insecureSkipVerify: Bool = false, certFile: String? = nil, keyFile: String? = nil,
        serverName: String? = nil, minVersion: TLSMinimumVersion = .tls12, ciphers: TLSPolicyText? = nil,
        ciphersuites: TLSPolicyText? = nil, curves: TLSPolicyText? = nil
    ) {
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
        self.certFile = certFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.minVersion = minVersion
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
        self.curves = curves
    }

    /// The files the TLS context is built from, watched for rotation (`ProxyConfiguration.tlsFiles`): a change
    /// rebuilds the contexts for new connections. A new file-valued key only needs adding here.
    public var watchedFiles: [String] { [caFile, certFile, keyFile, crlFile].compactMap { $0 } }

    /// The version, cipher and curve policy of these settings without their files: what unrouted https
    /// requests use from the top-level block (they trust the system store, never a route's CA).
    public var policyOnly: TLSSettings {
        TLSSettings(minVersion: minVersion, ciphers: ciphers, ciphersuites: ciphersuites, curves: curves)
            .withRevocation(revocation, crlFile: crlFile)
    }

    /// The effective policy as key/value pairs (`min_version` always, the lists when set): what `latchkey check`
    /// and the admin API show next to each route and connection. Append new policy keys here.
    public var policyFields: [(key: String, value: String)] {
        var fields = [(key: "min_version", value: minVersion.rawValue)]
        if let ciphers { fields.append(("ciphers", ciphers.value)) }
        if let ciphersuites { fields.append(("ciphersuites", ciphersuites.value)) }
        if let curves { fields.append(("curves", curves.value)) }
        // Revocation only when on (off is the default), so existing policy lines read as before.
        if revocation != .off { fields.append(("revocation", revocation.rawValue)) }
        if let crlFile, revocation != .off { fields.append(("crl_file", crlFile)) }
        return fields
    }

    /// `policyFields` in one line: `min_version=1.2 ciphers=...`.
    public var policyDescription: String { policyFields.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
}

extension TLSSettings {
    /// These settings with `revocation` and `crl_file` replaced.
    func withRevocation(_ revocation: TLSRevocationMode, crlFile: String?) -> TLSSettings {
        var copy = self
        copy.revocation = revocation
        copy.crlFile = crlFile
        return copy
    }
}

/// `revocation:` written as `off`, `soft` or `hard` (see `TLSSettings.revocation`).
public enum TLSRevocationMode: String, Sendable, CaseIterable, Hashable {
    case off, soft, hard
}

/// `min_version:` written as `1.2` or `1.3`.
public enum TLSMinimumVersion: String, Sendable, CaseIterable, Hashable {
    case tls12 = "1.2"
    case tls13 = "1.3"
}

/// An OpenSSL policy string (`ciphers`, `ciphersuites`, `curves`) and where it was written, so that a string
/// OpenSSL rejects is reported at its line (`TLSPolicyCheck`, where OpenSSL is linked). Equal, hashed and
/// printed by value only: a reload that just moves lines changes nothing.
public struct TLSPolicyText: Sendable, Hashable, CustomStringConvertible {
    public var value: String
    public var position: ConfigPosition

    public init(_ value: String, position: ConfigPosition = ConfigPosition(file: "", line: 0, column: 0, keyPath: "")) {
        self.value = value
        self.position = position
    }

    public static func == (lhs: TLSPolicyText, rhs: TLSPolicyText) -> Bool { lhs.value == rhs.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
    public var description: String { value }
}

extension ConnectionSettings {
    /// The OAuth client settings of an OAuth connection (their `tls` is the token endpoints'), nil otherwise.
    public var oauthClient: OAuthClientSettings? {
        switch kind {
        case .oauth2ClientCredentials(let settings): settings
        case .oauth2AuthorizationCode(let settings): settings.client
        default: nil
        }
    }
}
