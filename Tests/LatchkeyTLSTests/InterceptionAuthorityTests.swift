import COpenSSL
import Foundation
import LatchkeyNet
import Synchronization
import Testing

@testable import LatchkeyTLS

@Suite struct InterceptionAuthorityTests {
    let certificates: TestCertificates

    init() throws { certificates = try TestCertificates.shared }

    func authority(validity: Duration = .seconds(86400), capacity: Int = 1024) throws -> InterceptionAuthority {
        try InterceptionAuthority(
            certificatePEM: certificates.bytes(certificates.caFile),
            keyPEM: certificates.bytes(certificates.path("ca.key")), leafValidity: validity, cacheCapacity: capacity)
    }

    func leaf(_ context: TLSServerContext) throws -> InspectedCertificate {
        try InspectedCertificate(pem: #require(context.mintedCertificatePEM))
    }

    @Test func mintedLeafIsForExactlyTheHostAndVerifiesAgainstTheCA() throws {
        let before = time(nil)
        let leaf = try leaf(authority().context(forHost: "API.Example."))
        let ca = try InspectedCertificate(file: certificates.caFile)
        #expect(leaf.matchesHost("api.example"))
        #expect(!leaf.matchesHost("other.example"))
        #expect(!leaf.matchesHost("sub.api.example"))
        #expect(leaf.subject == "/CN=api.example")
        #expect(leaf.issuer == ca.subject)
        #expect(leaf.verify(trusting: certificates.caFile) == X509_V_OK)
        #expect(leaf.verify(trusting: certificates.untrustedCAFile) != X509_V_OK)
        #expect(!leaf.isCA)
        #expect(leaf.publicKeyType == EVP_PKEY_EC && leaf.publicKeyBits == 256)
        #expect(leaf.keyUsage & UInt32(KU_DIGITAL_SIGNATURE) != 0)
        #expect(leaf.keyUsage & UInt32(KU_KEY_CERT_SIGN) == 0)
        #expect(leaf.extendedKeyUsage == UInt32(XKU_SSL_SERVER))
        #expect(leaf.isCritical(NID_key_usage) && leaf.isCritical(NID_basic_constraints))
        #expect(leaf.hasSubjectKeyIdentifier && leaf.hasAuthorityKeyIdentifier)
        #expect(leaf.serialHex.count == 32)  // 128 bits
        // notBefore one hour back for slow client clocks; notAfter the leaf validity ahead.
        #expect(abs(leaf.notBefore - (before - 3600)) <= 5)
        #expect(abs(leaf.notAfter - (before + 86400)) <= 5)
    }

    @Test func leafNeverOutlivesTheCA() throws {
        // The test CA is valid for 2 days; ask for 30.
        let leaf = try leaf(authority(validity: .seconds(30 * 86400)).context(forHost: "api.example"))
        let ca = try InspectedCertificate(file: certificates.caFile)
        #expect(leaf.notAfter == ca.notAfter)
    }

    @Test(arguments: [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1")])
    func ipLiteralGetsAnIPAddressSAN(host: String, address: String) throws {
        let leaf = try leaf(authority().context(forHost: host))
        #expect(leaf.matchesIP(address))
        #expect(!leaf.matchesIP("10.0.0.1"))
        #expect(!leaf.matchesHost(address))
        #expect(leaf.verify(trusting: certificates.caFile) == X509_V_OK)
    }

    @Test func longHostNameHasNoCommonNameButACriticalSAN() throws {
        let host = String(repeating: "a", count: 60) + ".long.example"
        let leaf = try leaf(authority().context(forHost: host))
        #expect(leaf.subject == "")
        #expect(leaf.isCritical(NID_subject_alt_name))
        #expect(leaf.matchesHost(host))
        #expect(leaf.verify(trusting: certificates.caFile) == X509_V_OK)
    }

    @Test func eachLeafHasItsOwnSerialAndKey() throws {
        let authority = try authority()
        let one = try leaf(authority.context(forHost: "one.example"))
        let two = try leaf(authority.context(forHost: "two.example"))
        #expect(one.serialHex != two.serialHex)
    }

    @Test(arguments: ["", "a,DNS:evil.example", "evil.example\nDNS:x", "*.example", "a..b", "host name", "ü.example"])
    func refusesWhatIsNotAHostName(host: String) throws {
        let authority = try authority()
        #expect(throws: TLSError.self) { try authority.context(forHost: host) }
        #expect(authority.cachedContext(forHost: host) == nil)
        #expect(authority.statistics.mintFailures == 1)
        #expect(authority.statistics.mints == 0)
    }

    @Test func cacheAnswersRepeatedHostsAndCountsHitsAndMints() throws {
        let authority = try authority()
        #expect(authority.cachedContext(forHost: "api.example") == nil)
        let first = try authority.context(forHost: "api.example")
        let again = try authority.context(forHost: "API.EXAMPLE")
        #expect(first === again)
        #expect(authority.cachedContext(forHost: "api.example.") === first)
        #expect(authority.statistics.mints == 1)
        #expect(authority.statistics.hits == 2)
        #expect(authority.statistics.cachedHosts == 1)
    }

    @Test func cacheIsBoundedAndEvictsTheLeastRecentlyUsedHost() throws {
        let authority = try authority(capacity: 2)
        let a = try authority.context(forHost: "a.example")
        _ = try authority.context(forHost: "b.example")
        #expect(authority.cachedContext(forHost: "a.example") === a)  // a is now the most recent
        _ = try authority.context(forHost: "c.example")  // evicts b
        #expect(authority.cachedHosts == ["c.example", "a.example"])
        #expect(authority.cachedContext(forHost: "b.example") == nil)
        #expect(authority.statistics.evictions == 1)
        #expect(authority.statistics.cachedHosts == 2)
        _ = try authority.context(forHost: "b.example")  // minted again, evicts a
        #expect(authority.statistics.mints == 4)
        #expect(authority.cachedHosts == ["b.example", "c.example"])
    }

    @Test func asynchronousLookupAnswersHitsAtOnceAndMintsMissesOffTheLoop() throws {
        let authority = try authority()
        let loop = EventLoop(label: "interception-test")
        // One asynchronous lookup from the loop: whether it answered before returning, on the loop, and what.
        func lookUp() -> (synchronous: Bool, onLoop: Bool, context: TLSServerContext?) {
            let done = DispatchSemaphore(value: 0)
            let outcome = Mutex<(synchronous: Bool, onLoop: Bool, context: TLSServerContext?)>((false, false, nil))
            loop.execute {
                var returned = false
                authority.context(forHost: "async.example", on: loop) { result in
                    outcome.withLock { $0 = (!returned, loop.inLoop, try? result.get()) }
                    done.signal()
                }
                returned = true
            }
            done.wait()
            return outcome.withLock { $0 }
        }
        let miss = lookUp()
        #expect(!miss.synchronous && miss.onLoop && miss.context != nil)
        let hit = lookUp()
        #expect(hit.synchronous && hit.onLoop && hit.context === miss.context)
        #expect(authority.statistics.mints == 1)
    }

    @Test func asynchronousLookupReportsFailuresOnTheLoop() throws {
        let authority = try authority()
        let loop = EventLoop(label: "interception-test")
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<TLSError?>(nil)
        loop.execute {
            authority.context(forHost: "not a host", on: loop) { result in
                if case .failure(let error) = result { failure.withLock { $0 = error } }
                done.signal()
            }
        }
        done.wait()
        #expect(failure.withLock { $0 }?.code == .configuration)
    }

    @Test func concurrentRequestsForOneNewHostMintOnce() throws {
        let authority = try authority()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in _ = try? authority.context(forHost: "burst.example") }
        #expect(authority.statistics.mints == 1)
        #expect(authority.statistics.hits == 15)
    }

    // MARK: Loading the CA

    @Test func refusesAKeyThatIsNotTheCAs() throws {
        let error = #expect(throws: TLSError.self) {
            try InterceptionAuthority(
                certificatePEM: certificates.bytes(certificates.caFile),
                keyPEM: certificates.bytes(certificates.serverKey), leafValidity: .seconds(3600))
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("does not belong to the CA certificate") == true)
    }

    @Test func refusesACertificateThatIsNotACA() throws {
        let error = #expect(throws: TLSError.self) {
            try InterceptionAuthority(
                certificatePEM: certificates.bytes(certificates.serverCertificate),
                keyPEM: certificates.bytes(certificates.serverKey), leafValidity: .seconds(3600))
        }
        #expect(error?.reason.contains("is not a CA") == true)
    }

    @Test func refusesInputThatIsNotPEM() throws {
        let notCertificate = #expect(throws: TLSError.self) {
            try InterceptionAuthority(
                certificatePEM: Array("hello".utf8), keyPEM: certificates.bytes(certificates.path("ca.key")),
                leafValidity: .seconds(3600))
        }
        #expect(notCertificate?.reason.contains("no PEM certificate") == true)
        let notKey = #expect(throws: TLSError.self) {
            try InterceptionAuthority(
                certificatePEM: certificates.bytes(certificates.caFile), keyPEM: Array("secret-ish".utf8),
                leafValidity: .seconds(3600))
        }
        #expect(notKey?.reason.contains("not a PEM private key") == true)
        #expect(notKey?.reason.contains("secret-ish") == false)
    }

    @Test func keyNeverAppearsInDescriptions() throws {
        let key = try PrivateKey(pem: certificates.bytes(certificates.path("ca.key")), what: "the CA key")
        #expect(key.description == "EC private key (256 bits)")
    }
}
