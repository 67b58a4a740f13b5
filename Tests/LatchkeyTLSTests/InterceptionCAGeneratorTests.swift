import COpenSSL
import Foundation
import Testing

@testable import LatchkeyTLS

@Suite struct InterceptionCAGeneratorTests {
    @Test func generatesARootThatSignsLeavesAndNothingBelowThem() throws {
        let now = time(nil)
        let (certificatePEM, keyPEM) = try InterceptionCAGenerator.generate(commonName: "Latchkey interception CA test")
        #expect(String(decoding: keyPEM, as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let ca = try InspectedCertificate(pem: certificatePEM)
        #expect(ca.subject == "/CN=Latchkey interception CA test")
        #expect(ca.issuer == ca.subject)
        #expect(ca.isCA)
        #expect(ca.isCritical(NID_basic_constraints) && ca.isCritical(NID_key_usage))
        #expect(X509_get_pathlen(ca.x509) == 0)
        #expect(ca.keyUsage == UInt32(KU_KEY_CERT_SIGN | KU_CRL_SIGN))
        #expect(ca.hasSubjectKeyIdentifier)
        #expect(ca.publicKeyType == EVP_PKEY_EC && ca.publicKeyBits == 256)
        #expect(abs(ca.notAfter - (now + 3650 * 86400)) <= 5)
        #expect(abs(ca.notBefore - (now - 3600)) <= 5)

        // A leaf it mints verifies against it as the trust anchor.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("generated-ca-\(UUID()).pem")
        try Data(certificatePEM).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(X509_verify(ca.x509, X509_get0_pubkey(ca.x509)) == 1)  // self-signed
        let authority = try InterceptionAuthority(
            certificatePEM: certificatePEM, keyPEM: keyPEM, leafValidity: .seconds(3600))
        let leaf = try InspectedCertificate(
            pem: #require(authority.context(forHost: "api.example").mintedCertificatePEM))
        #expect(leaf.verify(trusting: file.path) == X509_V_OK)
        #expect(leaf.issuer == ca.subject)
    }

    @Test func eachCAIsNew() throws {
        let one = try InterceptionCAGenerator.generate(commonName: "a")
        let two = try InterceptionCAGenerator.generate(commonName: "a")
        #expect(one.keyPEM != two.keyPEM)
        #expect(
            try InspectedCertificate(pem: one.certificatePEM).serialHex
                != InspectedCertificate(pem: two.certificatePEM).serialHex)
    }

    @Test func refusesNamesAndValiditiesOutOfBounds() {
        #expect(throws: TLSError.self) { try InterceptionCAGenerator.generate(commonName: "") }
        #expect(throws: TLSError.self) {
            try InterceptionCAGenerator.generate(commonName: String(repeating: "x", count: 65))
        }
        #expect(throws: TLSError.self) { try InterceptionCAGenerator.generate(commonName: "a", validityDays: 0) }
    }
}
