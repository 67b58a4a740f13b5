import LatchkeyHTTP

extension ConfigDecoder {
    /// `type: oauth2_jwt_bearer` (RFC 7523 §2.1): the client fields of `decodeOAuthClient`, plus the
    /// assertion's `issuer`/`subject`/`audience`/`claims`, and either `private_key` or a Google
    /// `service_account_file` (which supplies key, key id, issuer = subject = client_email and token URL).
    func decodeJWTBearer(_ map: Fields) -> OAuthClientSettings? {
        guard var settings = decodeOAuthClient(map, authorizationCode: false, jwtBearer: true) else { return nil }
        var ok = true
        var jwt = JWTBearerSettings(issuer: settings.clientID)
        if let file = readableFile(map, "service_account_file") {
            if map["private_key"] != nil || map["key_id"] != nil {
                fail(map.keyNode("service_account_file"), map.path("service_account_file"), "'service_account_file' supplies the key; remove 'private_key' and 'key_id'")
                ok = false
            }
            guard let account = serviceAccount(map, file) else { return nil }
            jwt = JWTBearerSettings(issuer: account.clientEmail, scopesInAssertion: true, serviceAccountFile: file)
            settings.keyID = account.privateKeyID
            settings.signingAlgorithm = .rs256  // Google service-account keys are RSA; Google accepts RS256 only
            sensitiveValues.insert(account.privateKey)
            let reader = fileReader
            settings.privateKey = ReloadableSecret(initial: SecretString(account.privateKey)) {
                // A rotated key file is used on the next token request; a broken one falls back.
                guard let text = try? reader(file), let fresh = try? ServiceAccountKey.parse(text) else { return nil }
                return SecretString(fresh.privateKey)
            }
            if settings.tokenURL == nil && settings.discoveryURL == nil {
                do throws(ValueProblem) {
                    settings.tokenURL = try EndpointURL.parseForConfig(account.tokenURI)
                } catch {
                    fail(map.keyNode("service_account_file"), map.path("service_account_file"), "token_uri: \(error.message)")
                    ok = false
                }
            }
        } else if map["private_key"] == nil {
            fail(map.node, map.path, "missing 'private_key' or 'service_account_file' (the key that signs the assertion)")
            ok = false
        }
        if let issuer = string(map, "issuer") {
            if issuer.value.isEmpty { fail(issuer.node, issuer.path, "must not be empty") }
            jwt.issuer = issuer.value
            jwt.subject = issuer.value
        } else if jwt.issuer.isEmpty {
            fail(map.node, map.path, "missing 'issuer' (or 'client_id', its default): the assertion's iss claim")
            ok = false
        }
        if let subject = string(map, "subject") { jwt.subject = subject.value }
        jwt.audience = settings.audience  // here `audience` is the assertion's aud, not a form field
        settings.audience = nil
        for entry in stringMap(map, "claims") ?? [] {
            if JWTBearerSettings.reservedClaims.contains(entry.key.value) {
                fail(entry.key.node, entry.key.path, "'\(entry.key.value)' is set by the proxy", suggestion: "use issuer, subject or audience")
                ok = false
            } else {
                jwt.claims.append(JWTBearerSettings.Claim(name: entry.key.value, value: entry.value.value))
            }
        }
        settings.jwtBearer = jwt
        return ok ? settings : nil
    }

    private func serviceAccount(_ map: Fields, _ path: String) -> ServiceAccountKey? {
        if !readsSecrets {  // the file holds the private key: not read; Google's token endpoint stands in
            return ServiceAccountKey(
                clientEmail: TemplateResolver.placeholder, privateKey: TemplateResolver.placeholder, privateKeyID: nil,
                tokenURI: "https://oauth2.googleapis.com/token")
        }
        do throws(ValueProblem) {
            guard let text = try? fileReader(path) else { return nil }  // readableFile reported it
            return try ServiceAccountKey.parse(text)
        } catch {
            fail(map.keyNode("service_account_file"), map.path("service_account_file"), error.message)
            return nil
        }
    }
}
