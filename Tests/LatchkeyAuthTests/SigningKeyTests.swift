import COpenSSL
import Foundation
import LatchkeyConfig
import Testing

@testable import LatchkeyAuth

/// Key forms (PEM PKCS#8 / PKCS#1 / SEC1, encrypted, JWK), key-type checks, certificates, HMAC.
@Suite struct SigningKeyTests {
    private let message = Array("header.payload".utf8)

    @Test(arguments: [(true, nil), (false, "pass-1"), (true, "pass-2")] as [(Bool, String?)])
    func readsTraditionalPKCS8AndEncryptedPEM(traditional: Bool, passphrase: String?) throws {
        for (keys, algorithm) in [(TestKeys.rsa, JWTSigningAlgorithm.ps384), (TestKeys.ecP384, .es384)] {
            let pem = TestKeys.reencode(keys.privatePEM, traditional: traditional, passphrase: passphrase)
            if traditional && passphrase == nil {
                #expect(
                    pem.contains("-----BEGIN RSA PRIVATE KEY-----") || pem.contains("-----BEGIN EC PRIVATE KEY-----"))
            }
            if !traditional && passphrase != nil { #expect(pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) }
            if traditional && passphrase != nil { #expect(pem.contains("Proc-Type: 4,ENCRYPTED")) }
            let key = try SigningKey(text: pem, passphrase: passphrase)
            let signature = try key.sign(message, algorithm: algorithm)
            #expect(TestKeys.verify(message, signature: signature, publicPEM: keys.publicPEM, algorithm: algorithm))
        }
    }

    @Test func encryptedPEMWithoutOrWithAWrongPassphraseFailsWithoutLeaking() {
        let pem = TestKeys.reencode(TestKeys.ec.privatePEM, traditional: false, passphrase: "right-pass-77")
        let body = pem.split(separator: "\n")[2]
        for passphrase in [nil, "wrong-pass-99"] as [String?] {
            do {
                _ = try SigningKey(text: pem, passphrase: passphrase)
                Issue.record("expected failure")
            } catch {
                let text = error.description
                #expect(
                    text.contains(passphrase == nil ? "set private_key_passphrase" : "wrong private_key_passphrase"))
                #expect(!text.contains("wrong-pass-99") && !text.contains("right-pass-77") && !text.contains(body))
            }
        }
    }

    @Test(arguments: [
        (JWKFixtures.rsaJWK, JWKFixtures.rsaPublicPEM, JWTSigningAlgorithm.rs256),
        (JWKFixtures.rsaJWK, JWKFixtures.rsaPublicPEM, .ps512),
        (JWKFixtures.ec256JWK, JWKFixtures.ec256PublicPEM, .es256),
        (JWKFixtures.ec521JWK, JWKFixtures.ec521PublicPEM, .es512),
        (JWKFixtures.edJWK, JWKFixtures.edPublicPEM, .edDSA),
    ])
    func importsPrivateJWKs(jwk: String, publicPEM: String, algorithm: JWTSigningAlgorithm) throws {
        let key = try SigningKey(text: "  \n" + jwk, passphrase: nil)
        let signature = try key.sign(message, algorithm: algorithm)
        #expect(TestKeys.verify(message, signature: signature, publicPEM: publicPEM, algorithm: algorithm))
    }

    @Test func aJWKKidIsTheAssertionKidUnlessKeyIDIsSet() throws {
        var jwk = try #require(try JSONSerialization.jsonObject(with: Data(JWKFixtures.edJWK.utf8)) as? [String: Any])
        jwk["kid"] = "jwk-kid-1"
        let text = String(decoding: try JSONSerialization.data(withJSONObject: jwk), as: UTF8.self)
        let signer = AssertionSigner.privateKey(text: text, passphrase: nil, certificate: nil, thumbprint: .sha256)
        for (keyID, expected) in [(nil, "jwk-kid-1"), ("configured", "configured")] as [(String?, String)] {
            let token = try JWTAssertion(clientID: "c", audience: "a", keyID: keyID, algorithm: .edDSA).signed(
                with: signer, issuedAt: 0)
            let header = try #require(Base64.decode(String(token.split(separator: ".")[0])))
            #expect(String(decoding: header, as: UTF8.self).contains(#""kid":"\#(expected)""#))
        }
    }

    @Test func jwkWithoutCRTMembersAndJWKAlgAndUse() throws {
        var jwk = try #require(try JSONSerialization.jsonObject(with: Data(JWKFixtures.rsaJWK.utf8)) as? [String: Any])
        for name in ["p", "q", "dp", "dq", "qi"] { jwk[name] = nil }
        jwk["alg"] = "PS256"
        let text = String(decoding: try JSONSerialization.data(withJSONObject: jwk), as: UTF8.self)
        let key = try SigningKey(text: text)
        let signature = try key.sign(message, algorithm: .ps256)
        #expect(TestKeys.verify(message, signature: signature, publicPEM: JWKFixtures.rsaPublicPEM, algorithm: .ps256))
        #expect(key.problem(with: .rs256) == "the JWK is for PS256 (its 'alg'), not RS256")
        jwk["use"] = "enc"
        let encryption = String(decoding: try JSONSerialization.data(withJSONObject: jwk), as: UTF8.self)
        #expect(throws: SigningError.self) { try SigningKey(text: encryption) }
    }

    @Test func refusesPublicMismatchedAndMalformedJWKs() throws {
        var rsa = try #require(try JSONSerialization.jsonObject(with: Data(JWKFixtures.rsaJWK.utf8)) as? [String: Any])
        let privateD = try #require(rsa["d"] as? String)
        rsa["d"] = nil
        var ec = try #require(try JSONSerialization.jsonObject(with: Data(JWKFixtures.ec256JWK.utf8)) as? [String: Any])
        let ecD = try #require(ec["d"] as? String)
        let otherEC = try #require(
            try JSONSerialization.jsonObject(with: Data(JWKFixtures.ec521JWK.utf8)) as? [String: Any])
        ec["crv"] = "P-521"
        var swapped = try #require(
            try JSONSerialization.jsonObject(with: Data(JWKFixtures.ec256JWK.utf8)) as? [String: Any])
        swapped["x"] = (otherEC["x"] as? String).map { String($0.prefix(43)) }  // right length, wrong point
        let cases: [(String, String)] = [
            (String(decoding: try JSONSerialization.data(withJSONObject: rsa), as: UTF8.self), "public key (no 'd')"),
            (String(decoding: try JSONSerialization.data(withJSONObject: ec), as: UTF8.self), "must be 66 bytes"),
            (String(decoding: try JSONSerialization.data(withJSONObject: swapped), as: UTF8.self), "JWK"),
            (#"{"kty":"oct","k":"AAAA","d":"x"}"#, "'kty' must be RSA, EC or OKP"),
            (#"{"kty":"OKP","crv":"X25519","d":"AAAA"}"#, "must be Ed25519"),
            ("{not json", "not a JSON object"),
        ]
        for (text, expected) in cases {
            do {
                _ = try SigningKey(text: text, passphrase: nil)
                Issue.record("expected failure for \(expected)")
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
                #expect(!error.description.contains(privateD) && !error.description.contains(ecD))
            }
        }
    }

    @Test func keyTypeAndCurveMustFitTheAlgorithm() throws {
        let rsa = try SigningKey(text: TestKeys.rsa.privatePEM)
        let p256 = try SigningKey(text: TestKeys.ec.privatePEM)
        let p384 = try SigningKey(text: TestKeys.ecP384.privatePEM)
        let ed = try SigningKey(text: TestKeys.ed25519.privatePEM)
        #expect(rsa.problem(with: .rs512) == nil && rsa.problem(with: .ps256) == nil)
        #expect(rsa.problem(with: .es256)?.contains("needs an EC private key on P-256") == true)
        #expect(p256.problem(with: .es256) == nil && p384.problem(with: .es384) == nil)
        #expect(p384.problem(with: .es256)?.contains("secp384r1") == true)
        #expect(p256.problem(with: .es512) != nil && p256.problem(with: .rs256) != nil)
        #expect(ed.problem(with: .edDSA) == nil && ed.problem(with: .es256) != nil)
        #expect(rsa.problem(with: .edDSA)?.contains("Ed25519") == true)
        #expect(rsa.problem(with: .hs256)?.contains("client_secret_jwt") == true)
        #expect(throws: SigningError.self) { try p384.sign(self.message, algorithm: .es256) }
        let small = latchkey_EVP_RSA_gen(1024)
        let weak = SigningKey(takingOwnership: small!)
        #expect(weak.problem(with: .rs256)?.contains("at least 2048 bits") == true)
    }

    @Test func hmacMatchesRFC4231TestCase2() throws {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let mac = try AssertionSigner.hmac(
            Array("what do ya want for nothing?".utf8), secret: "Jefe", algorithm: .hs256)
        #expect(
            mac.map { String(format: "%02x", $0) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(throws: SigningError.self) { try AssertionSigner.hmac([], secret: "Jefe", algorithm: .rs256) }
    }

    @Test func notPEMNorJWKIsAClearError() {
        #expect(throws: SigningError.self) { try SigningKey(text: "just some text") }
    }
}

/// The load-time check (`OAuthClientKeyCheck`) and the assertion header with a certificate.
@Suite struct OAuthClientKeyCheckTests {
    private func settings(key: String, alg: JWTSigningAlgorithm, passphrase: String? = nil, certificate: String? = nil)
        -> OAuthClientSettings
    {
        var settings = OAuthClientSettings(
            clientID: "c", clientAuth: .privateKeyJWT, privateKey: ReloadableSecret(initial: SecretString(key)),
            signingAlgorithm: alg)
        settings.privateKeyPassphrase = passphrase.map { ReloadableSecret(initial: SecretString($0)) }
        settings.certificate = certificate.map { ReloadableSecret(initial: SecretString($0)) }
        settings.privateKeyPosition = ConfigPosition(
            file: "p.conf", line: 7, column: 18, keyPath: "connections.o.private_key")
        settings.certificatePosition = ConfigPosition(
            file: "p.conf", line: 9, column: 18, keyPath: "connections.o.certificate")
        return settings
    }

    @Test func namesFileLineAndKeyForEachProblem() {
        #expect(
            OAuthClientKeyCheck.errors(in: settings(key: TestKeys.ec.privatePEM, alg: .es256), connection: "o").isEmpty)
        let mismatch = OAuthClientKeyCheck.errors(
            in: settings(key: TestKeys.rsa.privatePEM, alg: .edDSA), connection: "o")
        #expect(
            mismatch.map(\.description) == [
                "p.conf:7:18: connections.o.private_key: EdDSA needs an Ed25519 private key, not an RSA 2048-bit key (signing_alg EdDSA)"
            ])
        let encrypted = TestKeys.reencode(TestKeys.rsa.privatePEM, traditional: true, passphrase: "the-pass-123")
        let wrong = OAuthClientKeyCheck.errors(
            in: settings(key: encrypted, alg: .rs256, passphrase: "nope-nope-1"), connection: "o")
        #expect(wrong.count == 1 && wrong[0].message.contains("wrong private_key_passphrase"))
        #expect(!wrong[0].description.contains("nope-nope-1") && !wrong[0].description.contains("the-pass-123"))
        #expect(
            OAuthClientKeyCheck.errors(
                in: settings(key: encrypted, alg: .rs256, passphrase: "the-pass-123"), connection: "o"
            ).isEmpty)
        let badCertificate = OAuthClientKeyCheck.errors(
            in: settings(key: TestKeys.rsa.privatePEM, alg: .rs256, certificate: "-----BEGIN CERTIFICATE-----\nxx\n"),
            connection: "o")
        #expect(
            badCertificate.count == 1 && badCertificate[0].line == 9
                && badCertificate[0].keyPath == "connections.o.certificate")
    }
}
