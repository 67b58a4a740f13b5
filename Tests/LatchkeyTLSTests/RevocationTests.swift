import COpenSSL
import Foundation
@testable import LatchkeyTLS
import Synchronization
import Testing

/// A fetcher that holds each fetch until the test completes it.
final class HeldCRLFetcher: CRLFetching {
    private let pending = Mutex<[(String, @Sendable (Result<[UInt8], CRLFetchFailure>) -> Void)]>([])
    var requested: [String] { pending.withLock { $0.map(\.0) } }
    func fetchCRL(from url: String, completion: @escaping @Sendable (Result<[UInt8], CRLFetchFailure>) -> Void) {
        pending.withLock { $0.append((url, completion)) }
    }
    /// Completes every held fetch with `result`.
    func complete(_ result: Result<[UInt8], CRLFetchFailure>) {
        let held = pending.withLock { held in
            defer { held = [] }
            return held
        }
        for (_, completion) in held { completion(result) }
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    let seconds = Mutex<time_t>(1_800_000_000)
    func advance(_ by: time_t) { seconds.withLock { $0 += by } }
    var now: @Sendable () -> time_t { { [self] in seconds.withLock { $0 } } }
}

func fileBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

@Suite struct CRLParsingTests {
    @Test func readsPEMWithSeveralCRLsAndDER() throws {
        let pki = try RevocationCertificates.shared
        let pem = try fileBytes(pki.crlPEM)
        let two = try CertificateRevocationList.parseAll(pem + pem, what: "test")
        #expect(two.count == 2)
        #expect(two[0].issuer == "/CN=Revocation Test CA")
        #expect(two[0].revokedCount == 1)
        let der = try CertificateRevocationList.parseAll(try fileBytes(pki.crlDER), what: "test")
        #expect(der.count == 1)
        let next = try #require(der[0].nextUpdate)
        let this = try #require(der[0].thisUpdate)
        #expect(next - this == 86_400)
    }

    @Test func refusesGarbageNamingTheSource() {
        #expect(throws: TLSError.self) { try CertificateRevocationList.parseAll(Array("hello".utf8), what: "CRL file 'x'") }
        do {
            _ = try CertificateRevocationList.parseAll([0x30, 0x03, 0x01], what: "the CRL from http://a/b")
            Issue.record("parsed garbage")
        } catch {
            #expect(error.reason.contains("the CRL from http://a/b"))
        }
        #expect(throws: TLSError.self) { try CertificateRevocationList.parseAll([], what: "x") }
    }

    @Test func distributionPointsAreTheHTTPOnes() throws {
        let pki = try RevocationCertificates.shared
        let cdp = try X509Certificate.parseAll(pem: try fileBytes(pki.path("cdp.pem")), what: "cdp")[0]
        #expect(CertificateLabel.httpDistributionPoints(cdp.pointer) == [RevocationCertificates.distributionPoint])
        let plain = try X509Certificate.parseAll(pem: try fileBytes(pki.path("good.pem")), what: "good")[0]
        #expect(CertificateLabel.httpDistributionPoints(plain.pointer).isEmpty)
        #expect(CertificateLabel.describe(plain.pointer).hasPrefix("CN=good, serial "))
    }
}

@Suite struct CRLCacheTests {
    let fetcher = HeldCRLFetcher()
    let clock = TestClock()
    var cache: CRLCache { CRLCache(fetcher: fetcher, retryAfterFailure: 30, now: clock.now) }
    let url = "http://crl.test/ca.crl"

    @Test func fetchesOnceCachesUntilNextUpdateAndRefreshesInTheBackground() throws {
        let cache = self.cache
        let crl = try fileBytes(RevocationCertificates.shared.crlDER)
        let parsed = try CertificateRevocationList.parseAll(crl, what: "t")[0]
        clock.seconds.withLock { $0 = parsed.thisUpdate! }
        guard case (.pending, true) = cache.lookup(url) else { Issue.record("unknown URL should need a fetch"); return }
        cache.fetch(url)
        cache.fetch(url)
        #expect(fetcher.requested == [url])  // one fetch under way at a time
        guard case (.pending, false) = cache.lookup(url) else { Issue.record("fetching"); return }
        let settled = Mutex(false)
        cache.whenSettled([url]) { settled.withLock { $0 = true } }
        fetcher.complete(.success(crl))
        #expect(settled.withLock { $0 })
        guard case (.crls(let lists), false) = cache.lookup(url) else { Issue.record("cached"); return }
        #expect(lists.count == 1)
        // A day-long CRL is refetched 5 minutes before its nextUpdate; the old one serves meanwhile.
        clock.advance(86_400 - 301)
        guard case (.crls, false) = cache.lookup(url) else { Issue.record("still fresh"); return }
        clock.advance(2)
        guard case (.crls, true) = cache.lookup(url) else { Issue.record("due for refresh"); return }
        cache.fetch(url)
        fetcher.complete(.failure(CRLFetchFailure(reason: "connection refused")))
        guard case (.crls, false) = cache.lookup(url) else { Issue.record("old CRL kept after a failed refresh"); return }
    }

    @Test func aFailedFetchIsReportedAndRetriedLater() {
        let cache = self.cache
        cache.fetch(url)
        fetcher.complete(.failure(CRLFetchFailure(reason: "HTTP status 404")))
        guard case (.failed(let reason), false) = cache.lookup(url) else { Issue.record("failed"); return }
        #expect(reason == "HTTP status 404")
        clock.advance(30)
        guard case (.failed, true) = cache.lookup(url) else { Issue.record("retry due"); return }
    }

    @Test func aBodyThatIsNotACRLFails() {
        let cache = self.cache
        cache.fetch(url)
        fetcher.complete(.success(Array("<html>".utf8)))
        guard case (.failed(let reason), _) = cache.lookup(url) else { Issue.record("failed"); return }
        #expect(reason.contains(url))
    }

    @Test func whenSettledAnswersAtOnceWithoutFetches() {
        let called = Mutex(false)
        cache.whenSettled(["http://other/x"]) { called.withLock { $0 = true } }
        #expect(called.withLock { $0 })
    }
}

@Suite struct RevocationVerdictTests {
    @Test func classifiesVerificationErrors() {
        #expect(RevocationCheck.classify(verifyError: X509_V_ERR_CERT_REVOKED) == .revoked)
        #expect(RevocationCheck.classify(verifyError: X509_V_ERR_UNABLE_TO_GET_CRL) == .unavailable)
        #expect(RevocationCheck.classify(verifyError: X509_V_ERR_CRL_HAS_EXPIRED) == .stale)
        #expect(RevocationCheck.classify(verifyError: X509_V_ERR_CERT_HAS_EXPIRED) == nil)
        #expect(RevocationCheck.classify(verifyError: X509_V_ERR_HOSTNAME_MISMATCH) == nil)
    }

    func check(_ policy: RevocationPolicy, leaf: RevocationResult?, intermediate: RevocationResult? = nil) -> RevocationCheck {
        var check = RevocationCheck(policy: policy)
        check.leaf = "CN=leaf, serial 1"
        if let leaf { check.record(depth: 0, certificate: "CN=leaf, serial 1", result: leaf, reason: "leaf \(leaf)") }
        if let intermediate {
            check.record(depth: 1, certificate: "CN=mid, serial 2", result: intermediate, reason: "mid \(intermediate)")
        }
        return check
    }

    @Test func softPassesMissingDataAndHardRefusesIt() throws {
        let soft = try #require(check(.soft, leaf: .unavailable).verdict(staple: .none, serverName: "api"))
        #expect(soft.result == .unavailable && !soft.failedHandshake)
        let hard = try #require(check(.hard, leaf: .stale).verdict(staple: .none, serverName: "api"))
        #expect(hard.result == .stale && hard.failedHandshake && hard.certificate == "CN=leaf, serial 1")
        let good = try #require(check(.hard, leaf: nil).verdict(staple: .none, serverName: "api"))
        #expect(good.result == .good && !good.failedHandshake && good.source == "crl")
    }

    @Test func aGoodStapleCoversTheLeafButNotItsIssuer() throws {
        let leafOnly = try #require(check(.hard, leaf: .unavailable).verdict(staple: .good, serverName: "api"))
        #expect(leafOnly.result == .good && leafOnly.source == "ocsp-staple")
        let withMid = try #require(
            check(.hard, leaf: .unavailable, intermediate: .unavailable).verdict(staple: .good, serverName: "api"))
        #expect(withMid.result == .unavailable && withMid.failedHandshake && withMid.certificate == "CN=mid, serial 2")
    }

    @Test func aRevokedStapleFailsEvenInSoftAndRevokedBeatsMissing() throws {
        let revoked = try #require(check(.soft, leaf: nil).verdict(staple: .revoked("by OCSP"), serverName: "api"))
        #expect(revoked.result == .revoked && revoked.failedHandshake && revoked.reason == "by OCSP")
        let mixed = try #require(
            check(.soft, leaf: .unavailable, intermediate: .revoked).verdict(staple: .none, serverName: "api"))
        #expect(mixed.result == .revoked && mixed.certificate == "CN=mid, serial 2")
    }

    @Test func anUnusableStapleIsExplainedAndNothingIsReportedWithoutVerification() throws {
        let stale = try #require(check(.hard, leaf: .unavailable).verdict(staple: .stale("too old"), serverName: "a"))
        #expect(stale.result == .stale && stale.reason.contains("too old"))
        #expect(RevocationCheck(policy: .hard).verdict(staple: .good, serverName: "a") == nil)  // resumed
    }
}
