import Foundation
import LatchkeyConfig
import LatchkeyHTTP

/// Builds the token request of RFC 6749 §4.4.2 (client credentials grant), or of RFC 7523 §2.1 (the JWT
/// bearer grant, `type: oauth2_jwt_bearer`), with client authentication per §2.3.1
/// (`client_secret_basic`, `client_secret_post`), RFC 7523 §2.2 (`private_key_jwt`, signed here or read
/// from `client_assertion_file`; `client_secret_jwt`) or RFC 8705 §2 (`tls_client_auth`,
/// `self_signed_tls_client_auth`).
///
/// Secrets are read through `ReloadableSecret.current()` on every call, so rotated secrets and keys are
/// used on the next request. Host and Content-Length are the transport's job.
public struct TokenRequestBuilder: Sendable {
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// A `client_assertion_file` larger than this is refused (a projected token is about 1 KiB).
    public static let maxAssertionFileBytes = 64 * 1024
    /// RFC 7523 §2.1 `grant_type`.
    public static let jwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    public var connectionName: String
    public var settings: OAuthClientSettings
    /// The process's scrubber: the encoded forms of secrets this builder makes (a `client_secret_basic`
    /// header's base64) are registered with it, since a provider may echo them back.
    public let scrubber: SecretScrubber

    public init(connectionName: String, settings: OAuthClientSettings, scrubber: SecretScrubber) {
        self.connectionName = connectionName
        self.settings = settings
        self.scrubber = scrubber
    }

    /// The client-credentials request (or, with `settings.jwtBearer`, the JWT bearer grant request) to
    /// `tokenURL` for `parameters`. `now` is Unix seconds (for the JWT).
    /// Fails with `.misconfigured` when a needed secret is missing, the key cannot sign, or the endpoint
    /// would receive credentials in plaintext.
    public func makeRequest(tokenURL: EndpointURL, parameters: OAuthRequestParameters, now: Double)
        throws(CredentialError) -> TokenEndpointRequest
    {
        if let jwtBearer = settings.jwtBearer {
            return try makeJWTBearerRequest(jwtBearer, tokenURL: tokenURL, parameters: parameters, now: now)
        }
        var form: [(String, String)] = [("grant_type", "client_credentials")]
        if !parameters.scopes.isEmpty { form.append(("scope", parameters.scopes.joined(separator: " "))) }
        if let audience = parameters.audience { form.append(("audience", audience)) }
        form += parameters.tokenParams.map { ($0.name, $0.value) }
        return try makeRequest(endpoint: tokenURL, form: form, now: now)
    }

    /// A POST of `form` (the grant's or the revocation request's own fields) to `endpoint`, with client
    /// authentication appended per `settings.clientAuth` and `token_headers` added — for the token,
    /// refresh (RFC 6749 §6) and revocation (RFC 7009 §2.1) endpoints alike. A public client
    /// (`client_auth: none`) sends `client_id` in the form (§2.3, §4.1.3). The JWT assertion's `aud`
    /// is `audience` (default `endpoint`): the token endpoint, also when revoking.
    public func makeRequest(endpoint: EndpointURL, form grantForm: [(String, String)], audience: EndpointURL? = nil, now: Double)
        throws(CredentialError) -> TokenEndpointRequest
    {
        try Self.checkTransport(endpoint, settings: settings, connection: connectionName)
        var form = grantForm
        var headers: [(String, String)] = [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
        ]
        switch settings.clientAuth {
        case .clientSecretBasic:
            let credentials = Self.basicCredentials(clientID: settings.clientID, secret: try secret())
            scrubber.register([credentials])  // a provider may echo the header back
            headers.append(("Authorization", "Basic " + credentials))
        case .clientSecretPost:
            form += [("client_id", settings.clientID), ("client_secret", try secret())]
        case .privateKeyJWT, .clientSecretJWT:
            let assertion: String
            if settings.clientAuth == .privateKeyJWT, let file = settings.clientAssertionFile {
                assertion = try readAssertionFile(file)
                // RFC 7521 §4.2 allows client_id alongside; Entra ID requires it for a federated assertion.
                if !settings.clientID.isEmpty { form.append(("client_id", settings.clientID)) }
            } else {
                assertion = try self.assertion(audience ?? endpoint, now)
            }
            form += [("client_assertion_type", Self.assertionType), ("client_assertion", assertion)]
        case .tlsClientAuth, .selfSignedTLSClientAuth:
            // RFC 8705 §2: the certificate in `settings.tls` authenticates; only client_id goes in the form.
            form.append(("client_id", settings.clientID))
        case .none:
            // A JWT bearer grant may carry no client identity at all (the assertion is the credential).
            if !settings.clientID.isEmpty { form.append(("client_id", settings.clientID)) }
        }
        headers += settings.tokenHeaders
        return TokenEndpointRequest(
            method: "POST", url: endpoint, headers: headers, body: Array(FormURLEncoding.encode(form).utf8),
            tls: settings.tls, timeout: .milliseconds(settings.timeoutMs))
    }

    /// RFC 6749 §2.3.1: the client id and secret are each form-urlencoded, then joined by ":" and
    /// base64-encoded as in RFC 7617.
    public static func basicAuthorization(clientID: String, secret: String) -> String {
        "Basic " + basicCredentials(clientID: clientID, secret: secret)
    }

    /// The base64 part of `basicAuthorization` (a secret in its own right).
    public static func basicCredentials(clientID: String, secret: String) -> String {
        let userPass = FormURLEncoding.encode(clientID) + ":" + FormURLEncoding.encode(secret)
        return Base64.encode(Array(userPass.utf8))
    }

    /// Credentials go to an endpoint only over TLS, on loopback, or with `allow_plaintext_credentials`.
    /// The config validator checks this already; this is the defensive second check.
    public static func checkTransport(_ url: EndpointURL, settings: OAuthClientSettings, connection: String)
        throws(CredentialError)
    {
        if url.isTLS || url.isLoopback || settings.allowPlaintextCredentials { return }
        throw CredentialError(
            .misconfigured, connection: connection,
            detail: "refusing to send client credentials to \(url) over plain HTTP (allow_plaintext_credentials is off)")
    }

    /// RFC 7523 §2.1: `grant_type` and the signed `assertion`; scopes as the `scope` parameter, or
    /// only inside the assertion for a service-account key (Google's shape).
    private func makeJWTBearerRequest(
        _ jwtBearer: JWTBearerSettings, tokenURL: EndpointURL, parameters: OAuthRequestParameters, now: Double
    ) throws(CredentialError) -> TokenEndpointRequest {
        guard let key = settings.privateKey else {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "private_key is not set")
        }
        let jwt = JWTBearerAssertion(
            settings: jwtBearer, audience: parameters.audience ?? jwtBearer.audience ?? tokenURL.description,
            scopes: jwtBearer.scopesInAssertion ? parameters.scopes : [], keyID: settings.keyID,
            algorithm: settings.signingAlgorithm)
        let assertion: String
        do {
            assertion = try jwt.signed(
                privateKeyPEM: key.current().value, passphrase: settings.privateKeyPassphrase?.current().value, issuedAt: now)
        } catch {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "jwt-bearer assertion: \(error)")
        }
        var form: [(String, String)] = [("grant_type", Self.jwtBearerGrantType), ("assertion", assertion)]
        if !jwtBearer.scopesInAssertion && !parameters.scopes.isEmpty {
            form.append(("scope", parameters.scopes.joined(separator: " ")))
        }
        form += parameters.tokenParams.map { ($0.name, $0.value) }
        return try makeRequest(endpoint: tokenURL, form: form, now: now)
    }

    /// The client assertion from `client_assertion_file`, read afresh (a projected token is rotated in
    /// place by the kubelet); surrounding whitespace dropped. The error never quotes the content.
    private func readAssertionFile(_ path: String) throws(CredentialError) -> String {
        guard let data = FileManager.default.contents(atPath: path), data.count <= Self.maxAssertionFileBytes,
            let text = String(data: data, encoding: .utf8)
        else {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "client_assertion_file \(path) cannot be read (or is over 64 KiB)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3,
            token.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
        else {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "client_assertion_file \(path) does not hold a compact JWT")
        }
        // Not registered with the scrubber: a projected token rotates hourly and the scrubber never forgets,
        // so each new one would crowd out the config's own (long-lived) secrets.
        return token
    }

    private func secret() throws(CredentialError) -> String {
        guard let secret = settings.clientSecret else {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "client_secret is not set")
        }
        return secret.current().value
    }

    /// The signed client assertion; its `aud` is `assertion_audience` when set, else the token endpoint.
    private func assertion(_ tokenURL: EndpointURL, _ now: Double) throws(CredentialError) -> String {
        let signer: AssertionSigner
        if settings.clientAuth == .clientSecretJWT {
            signer = .secret(try secret())
        } else {
            guard let key = settings.privateKey else {
                throw CredentialError(.misconfigured, connection: connectionName, detail: "private_key is not set")
            }
            signer = .privateKey(
                text: key.current().value, passphrase: settings.privateKeyPassphrase?.current().value,
                certificate: settings.certificate?.current().value, thumbprint: settings.certificateThumbprint)
        }
        let jwt = JWTAssertion(
            clientID: settings.clientID, audience: settings.assertionAudience ?? tokenURL.description,
            keyID: settings.keyID, algorithm: settings.signingAlgorithm)
        do {
            return try jwt.signed(with: signer, issuedAt: now)
        } catch {
            throw CredentialError(.misconfigured, connection: connectionName, detail: "client assertion: \(error)")
        }
    }
}
