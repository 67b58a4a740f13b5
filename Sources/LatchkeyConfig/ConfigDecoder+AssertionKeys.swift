import Yams

extension ConfigDecoder {
    /// The client-assertion keys of an OAuth client (issue 10 §3): `signing_alg` (checked against
    /// `client_auth`), `private_key_passphrase`, `certificate`, `certificate_thumbprint` and
    /// `assertion_audience`. Parsing the key and certificate needs OpenSSL, which this module does not
    /// link: that check runs when the runtime is built (`OAuthClientKeyCheck`), at the positions kept here.
    func decodeAssertionKeys(_ map: Fields, into settings: inout OAuthClientSettings) {
        let secretJWT = settings.clientAuth == .clientSecretJWT
        if secretJWT { settings.signingAlgorithm = .hs256 }
        if let text = string(map, "signing_alg"),
            let alg = choice(text, in: JWTSigningAlgorithm.allCases.map(\.rawValue))
        {
            let algorithm = JWTSigningAlgorithm(rawValue: alg)!
            if algorithm.isHMAC != secretJWT {
                let expected = secretJWT ? "HS256, HS384 or HS512" : "RS*, PS*, ES* or EdDSA"
                fail(
                    text.node, text.path,
                    "signing_alg \(alg) does not fit client_auth \(settings.clientAuth.rawValue); expected \(expected)")
            } else {
                settings.signingAlgorithm = algorithm
            }
        }
        // RFC 7518 §3.2: an HMAC key at least as long as the hash output.
        if secretJWT, let secret = settings.clientSecret?.initial.value,
            let minimum = settings.signingAlgorithm.hashLength,
            secret.utf8.count < minimum, let node = map["client_secret"]
        {
            fail(
                node, map.path("client_secret"),
                "client_secret is \(secret.utf8.count) bytes; \(settings.signingAlgorithm.rawValue) needs at least \(minimum) (RFC 7518 §3.2)"
            )
        }
        settings.privateKeyPassphrase = reloadable(map, "private_key_passphrase", multiline: false)
        settings.certificate = reloadable(map, "certificate", multiline: true)
        if let choice = choice(map, "certificate_thumbprint", as: CertificateThumbprint.self) {
            settings.certificateThumbprint = choice
        }
        if let audience = string(map, "assertion_audience") {
            if audience.value.isEmpty { fail(audience.node, audience.path, "must not be empty") }
            checkHeaderSafe(audience)
            settings.assertionAudience = audience.value
        }
        settings.privateKeyPosition = position(map, "private_key")
        settings.certificatePosition = position(map, "certificate")
        let usesKey = settings.clientAuth == .privateKeyJWT
        for key in ["private_key_passphrase", "certificate", "certificate_thumbprint"] where !usesKey {
            if let node = map[key] {
                fail(node, map.path(key), "'\(key)' applies only to client_auth private_key_jwt")
            }
        }
        if map["assertion_audience"] != nil && !usesKey && !secretJWT, let node = map["assertion_audience"] {
            fail(
                node, map.path("assertion_audience"),
                "'assertion_audience' applies only to private_key_jwt and client_secret_jwt")
        }
    }

    /// Where `key`'s value is written in `map`, or nil when absent.
    func position(_ map: Fields, _ key: String) -> ConfigPosition? {
        guard let node = map[key] else { return nil }
        return ConfigPosition(
            file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, keyPath: map.path(key))
    }
}
