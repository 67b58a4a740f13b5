import Testing

@testable import LatchkeyTLS

/// Which part of the client's TLS policy a failed handshake's OpenSSL reason points at (the 502 detail).
@Suite struct TLSPolicyHintTests {
    @Test func aVersionRefusalUnderMinVersion13NamesIt() {
        let policy = TLSClientConfiguration(minimumVersion: .tls13)
        for reason in ["TLS handshake failed: tlsv1 alert protocol version", "TLS handshake failed: unsupported protocol"] {
            #expect(TLSPolicyHint.explain(reason, policy: policy) == "the server offers only TLSv1.2 or older, and tls.min_version requires TLSv1.3")
        }
        #expect(
            TLSPolicyHint.explain("tlsv1 alert protocol version", policy: TLSClientConfiguration())?
                .contains("older than TLSv1.2") == true)
    }

    @Test func aHandshakeFailureWithRestrictedListsNamesThem() {
        let policy = TLSClientConfiguration(cipherList: "ECDHE+AESGCM", groups: "X448")
        #expect(
            TLSPolicyHint.explain("sslv3 alert handshake failure", policy: policy)
                == "the server shares no cipher or curve with tls.ciphers 'ECDHE+AESGCM', tls.curves 'X448'")
    }

    @Test func withoutARestrictionThereIsNothingToBlame() {
        #expect(TLSPolicyHint.explain("sslv3 alert handshake failure", policy: TLSClientConfiguration()) == nil)
        #expect(
            TLSPolicyHint.explain("certificate verify failed", policy: TLSClientConfiguration(cipherList: "HIGH")) == nil)
    }
}
