import COpenSSL
@testable import LatchkeyTLS
import Testing

/// Client contexts built with one `TLSTrustStores` load each trust source once and share it, and still
/// verify exactly as a context with a store of its own.
@Suite struct TLSTrustStoresTests {
    let certificates: TestCertificates
    init() throws { certificates = try TestCertificates.shared }

    private func store(_ context: TLSClientContext) -> OpaquePointer? { SSL_CTX_get_cert_store(context.context) }

    private func handshake(_ context: TLSClientContext, server: TLSServerConfiguration) throws -> TLSStep {
        let pair = EnginePair(
            client: try TLSEngine(context: context, serverName: "localhost"),
            server: try TLSEngine(context: TLSServerContext(configuration: server)))
        return pair.handshake().client
    }

    @Test func contextsTrustingTheSameFileShareOneStore() throws {
        let stores = TLSTrustStores()
        let plain = try TLSClientContext(configuration: .init(caFile: certificates.caFile), trustStores: stores)
        let offeringH2 = try TLSClientContext(
            configuration: .init(caFile: certificates.caFile, alpnProtocols: ["h2", "http/1.1"]), trustStores: stores)
        #expect(stores.loadedCount == 1)
        #expect(store(plain) == store(offeringH2))
    }

    @Test func theSystemStoreIsLoadedOnceToo() throws {
        let stores = TLSTrustStores()
        let first = try TLSClientContext(configuration: .init(), trustStores: stores)
        let second = try TLSClientContext(configuration: .init(alpnProtocols: ["h2"]), trustStores: stores)
        #expect(stores.loadedCount == 1)
        #expect(store(first) == store(second))
    }

    @Test func differentSourcesGetDifferentStores() throws {
        let stores = TLSTrustStores()
        let ours = try TLSClientContext(configuration: .init(caFile: certificates.caFile), trustStores: stores)
        let other = try TLSClientContext(configuration: .init(caFile: certificates.untrustedCAFile), trustStores: stores)
        #expect(stores.loadedCount == 2)
        #expect(store(ours) != store(other))
        // Each still trusts only its own CA.
        #expect(try handshake(ours, server: trustedServer(certificates)) == .complete)
        #expect(try handshake(other, server: trustedServer(certificates)).error?.code == .certificateVerification)
    }

    @Test func withoutACommonCacheEachContextLoadsItsOwn() throws {
        let first = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        let second = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        #expect(store(first) != store(second))
    }

    @Test func aContextKeepsItsStoreAfterTheCacheIsGone() throws {
        var stores: TLSTrustStores? = TLSTrustStores()
        let context = try TLSClientContext(configuration: .init(caFile: certificates.caFile), trustStores: stores!)
        stores = nil
        #expect(try handshake(context, server: trustedServer(certificates)) == .complete)
    }

    @Test func aContextThatAddsCRLsGetsAStoreOfItsOwn() throws {
        let pki = try RevocationCertificates.shared
        let stores = TLSTrustStores()
        var checking = TLSClientConfiguration(caFile: pki.caFile)
        checking.revocation = .hard
        checking.crlFile = pki.crlPEM
        let shared = try TLSClientContext(configuration: .init(caFile: pki.caFile), trustStores: stores)
        let withCRLs = try TLSClientContext(configuration: checking, trustStores: stores)
        #expect(store(shared) != store(withCRLs))
        // The shared store did not receive the CRLs: a revoked server still passes a context without revocation.
        let server = TLSServerConfiguration(
            certificateChainFile: pki.path("revoked.pem"), privateKeyFile: pki.path("revoked.key"))
        #expect(try handshake(shared, server: server) == .complete)
        #expect(try handshake(withCRLs, server: server).error?.code == .revocation)
    }

    @Test func aMissingCAFileIsNamed() {
        let stores = TLSTrustStores()
        #expect {
            _ = try TLSClientContext(configuration: .init(caFile: "/nonexistent/ca.pem"), trustStores: stores)
        } throws: { error in
            "\(error)".contains("cannot read CA file '/nonexistent/ca.pem'")
        }
        #expect(stores.loadedCount == 0)
    }
}
