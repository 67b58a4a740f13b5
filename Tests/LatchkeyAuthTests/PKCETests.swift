import Testing

@testable import LatchkeyAuth

@Suite struct PKCETests {
    /// RFC 7636 Appendix B.
    @Test func appendixBVector() {
        let octets: [UInt8] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240,
            91, 88, 5, 88, 83, 132, 141, 121,
        ]
        let pkce = PKCE(verifierBytes: octets)
        #expect(pkce.verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.method == "S256")
    }

    @Test func freshVerifiersAreValidAndDistinct() throws {
        let a = try PKCE()
        let b = try PKCE()
        #expect(a.verifier.count == 43)
        #expect(PKCE.isValidVerifier(a.verifier))
        #expect(a != b)
        #expect(a.challenge.count == 43)
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 129)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42) + "+"))
    }
}

@Suite struct AuthorizationStateStoreTests {
    @Test func singleUseBoundToConnectionAndExpiring() throws {
        let clock = ManualClock()
        let store = AuthorizationStateStore(clock: clock)
        let pkce = try PKCE()
        let state = try store.issue(connection: "crm", pkce: pkce, redirectURI: "http://127.0.0.1/cb")
        #expect(state.count == 43)
        #expect(store.connection(for: state) == "crm")
        let first = try store.consume(state, connection: "crm").get()
        #expect(first.pkce == pkce)
        #expect(first.redirectURI == "http://127.0.0.1/cb")
        #expect(store.consume(state, connection: "crm").failure == .unknown)  // single use

        let other = try store.issue(connection: "crm", pkce: pkce, redirectURI: "x")
        #expect(store.consume(other, connection: "erp").failure == .wrongConnection(expected: "crm"))
        #expect(store.consume(other, connection: "crm").failure == .unknown)  // consumed by the failed attempt too

        let late = try store.issue(connection: "crm", pkce: pkce, redirectURI: "x")
        clock.advance(by: .seconds(599))
        #expect(store.connection(for: late) == "crm")
        clock.advance(by: .seconds(1))
        #expect(store.connection(for: late) == nil)
        #expect(store.consume(late, connection: "crm").failure == .expired)
        #expect(store.consume("made-up", connection: "crm").failure == .unknown)
    }

    @Test func capacityEvictsTheOldest() throws {
        let store = AuthorizationStateStore(clock: ManualClock(), capacity: 2)
        let pkce = try PKCE()
        let a = try store.issue(connection: "c", pkce: pkce, redirectURI: "x")
        let b = try store.issue(connection: "c", pkce: pkce, redirectURI: "x")
        let c = try store.issue(connection: "c", pkce: pkce, redirectURI: "x")
        #expect(store.count == 2)
        #expect(store.connection(for: a) == nil)
        #expect(store.connection(for: b) == "c" && store.connection(for: c) == "c")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
