import Foundation
import LatchkeyAuth
import LatchkeyConfig
import Testing

@Suite struct JWTAssertionTests {
    private func json(_ segment: Substring) throws -> [String: Any] {
        let bytes = try #require(Base64.decode(String(segment)))
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test(arguments: JWTSigningAlgorithm.allCases.filter { !$0.isHMAC })
    func signsAndVerifiesWithThePublicKey(algorithm: JWTSigningAlgorithm) throws {
        let keys =
            switch algorithm {
            case .es256: TestKeys.ec
            case .es384: TestKeys.ecP384
            case .es512: TestKeys.ecP521
            case .edDSA: TestKeys.ed25519
            default: TestKeys.rsa
            }
        let jwt = JWTAssertion(clientID: "client-1", audience: "https://idp.example.com/token", keyID: "k1", algorithm: algorithm)
        let token = try jwt.signed(privateKeyPEM: keys.privatePEM, issuedAt: 1_700_000_000.7)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let header = try json(parts[0])
        #expect(header["alg"] as? String == algorithm.rawValue)
        #expect(header["kid"] as? String == "k1")
        #expect(header["typ"] as? String == "JWT")
        let claims = try json(parts[1])
        #expect(claims["iss"] as? String == "client-1")
        #expect(claims["sub"] as? String == "client-1")
        #expect(claims["aud"] as? String == "https://idp.example.com/token")
        let iat = try #require(claims["iat"] as? Int)
        let exp = try #require(claims["exp"] as? Int)
        #expect(iat == 1_700_000_000 && exp > iat && exp - iat <= 300)
        #expect((claims["jti"] as? String)?.isEmpty == false)
        let signature = try #require(Base64.decode(String(parts[2])))
        let widths: [JWTSigningAlgorithm: Int] = [.es256: 64, .es384: 96, .es512: 132, .edDSA: 64]
        if let width = widths[algorithm] { #expect(signature.count == width) }
        let message = Array("\(parts[0]).\(parts[1])".utf8)
        #expect(TestKeys.verify(message, signature: signature, publicPEM: keys.publicPEM, algorithm: algorithm))
        var tampered = signature
        tampered[5] ^= 1
        #expect(!TestKeys.verify(message, signature: tampered, publicPEM: keys.publicPEM, algorithm: algorithm))
    }

    @Test func jtiIsUniqueAndKidOmittedWithoutKeyID() throws {
        let jwt = JWTAssertion(clientID: "c", audience: "https://a/t", keyID: nil, algorithm: .es256)
        var seen = Set<String>()
        for _ in 0..<20 {
            let token = try jwt.signed(privateKeyPEM: TestKeys.ec.privatePEM, issuedAt: 0)
            let parts = token.split(separator: ".")
            #expect(try json(parts[0])["kid"] == nil)
            seen.insert(try json(parts[1])["jti"] as! String)
        }
        #expect(seen.count == 20)
    }

    @Test func wrongKeyTypeAndGarbagePEMFailWithoutLeakingTheKey() {
        let es = JWTAssertion(clientID: "c", audience: "https://a/t", keyID: nil, algorithm: .es256)
        #expect(throws: (any Error).self) { try es.signed(privateKeyPEM: TestKeys.rsa.privatePEM, issuedAt: 0) }
        do {
            _ = try JWTAssertion(clientID: "c", audience: "a", keyID: nil, algorithm: .rs256)
                .signed(privateKeyPEM: "-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n", issuedAt: 0)
            Issue.record("expected failure")
        } catch {
            #expect(!"\(error)".contains("SECRETSTUFF"))
        }
    }
}
