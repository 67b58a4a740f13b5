import Foundation
import LatchkeyNet
@testable import LatchkeyTLS
import Synchronization
import Testing

/// Client handshakes with `revocation` on against a server engine over memory BIOs.
@Suite struct RevocationHandshakeTests {
    let pki: RevocationCertificates
    init() throws { pki = try RevocationCertificates.shared }

    func server(_ name: String) throws -> TLSEngine {
        try TLSEngine(
            context: TLSServerContext(
                configuration: TLSServerConfiguration(
                    certificateChainFile: pki.path("\(name).pem"), privateKeyFile: pki.path("\(name).key"))))
    }

    func client(_ policy: RevocationPolicy, crlFile: String? = nil, services: RevocationServices? = nil) throws
        -> TLSEngine
    {
        var configuration = TLSClientConfiguration(caFile: pki.caFile)
        configuration.revocation = policy
        configuration.crlFile = crlFile
        return try TLSEngine(
            context: TLSClientContext(configuration: configuration, revocation: services), serverName: "localhost")
    }

    @Test func aCertificateRevokedByTheCRLFileFailsInSoftAndHard() throws {
        for policy in [RevocationPolicy.soft, .hard] {
            let pair = EnginePair(client: try client(policy, crlFile: pki.crlPEM), server: try server("revoked"))
            let error = try #require(pair.handshake().client.error)
            #expect(error.code == .revocation)
            #expect(error.reason.contains("CN=revoked, serial \(pki.revokedSerial)"))
            #expect(error.reason.contains("revoked according to the CRL from CN=Revocation Test CA"))
            #expect(pair.client.revocationReport?.result == .revoked)
        }
    }

    @Test func aGoodCertificatePassesWithTheCRLFile() throws {
        let reports = Mutex<[RevocationReport]>([])
        let services = RevocationServices(cache: CRLCache(fetcher: NoCRLFetching())) { report in
            reports.withLock { $0.append(report) }
        }
        let pair = EnginePair(client: try client(.hard, crlFile: pki.crlDER, services: services), server: try server("good"))
        #expect(pair.handshake().client == .complete)
        #expect(reports.withLock { $0.map(\.result) } == [.good])
    }

    @Test func noRevocationDataPassesInSoftAndFailsInHard() throws {
        let soft = EnginePair(client: try client(.soft), server: try server("good"))
        #expect(soft.handshake().client == .complete)
        #expect(soft.client.revocationReport?.result == .unavailable)
        let hard = EnginePair(client: try client(.hard), server: try server("good"))
        let error = try #require(hard.handshake().client.error)
        #expect(error.code == .revocation && error.reason.contains("no usable CRL"))
        #expect(error.reason.contains("(revocation: hard)"))
    }

    @Test func offChecksNothing() throws {
        let pair = EnginePair(client: try client(.off), server: try server("revoked"))
        #expect(pair.handshake().client == .complete)
        #expect(pair.client.revocationReport == nil)
    }

    func stapledHandshake(thisUpdate: time_t, nextUpdate: time_t?) throws -> EnginePair {
        let server = try server("good")
        OCSPStapling.staple(
            try OCSPStapling.goodResponse(for: "good", in: pki, thisUpdate: thisUpdate, nextUpdate: nextUpdate),
            on: server)
        return EnginePair(client: try client(.hard), server: server)
    }

    @Test func aGoodStapleWithoutNextUpdateCountsForAWeek() throws {
        let day: time_t = 86_400
        let fresh = try stapledHandshake(thisUpdate: time(nil) - 6 * day, nextUpdate: nil)
        #expect(fresh.handshake().client == .complete)
        #expect(fresh.client.revocationReport?.source == "ocsp-staple")
        #expect(fresh.client.revocationReport?.result == .good)
        // Older: possibly replayed from before a revocation.
        let old = try stapledHandshake(thisUpdate: time(nil) - 8 * day, nextUpdate: nil)
        let error = try #require(old.handshake().client.error)
        #expect(error.code == .revocation)
        #expect(error.reason.contains("no nextUpdate and is more than 7 days old"))
        #expect(old.client.revocationReport?.result == .stale)
        // With nextUpdate, that bounds it, however old thisUpdate is.
        let bounded = try stapledHandshake(thisUpdate: time(nil) - 9 * day, nextUpdate: time(nil) + day)
        #expect(bounded.handshake().client == .complete)
        #expect(bounded.client.revocationReport?.result == .good)
    }

    @Test func hardWaitsForTheDistributionPointFetchThenCompletes() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        let pair = EnginePair(client: try client(.hard, services: services), server: try server("cdp"))
        #expect(pair.handshake().client == .waitingForRevocationData)
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])
        let resumed = Mutex(false)
        pair.client.whenRevocationDataSettles { resumed.withLock { $0 = true } }
        fetcher.complete(.success(try fileBytes(pki.crlDER)))
        #expect(resumed.withLock { $0 })
        #expect(pair.handshake().client == .complete)
        #expect(pair.client.revocationReport?.result == .good)
    }

    @Test func hardDoesNotWaitWhenTheCRLFileCoversTheIssuer() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        let pair = EnginePair(
            client: try client(.hard, crlFile: pki.crlPEM, services: services), server: try server("cdp"))
        #expect(pair.handshake().client == .complete)
        #expect(pair.client.revocationReport?.result == .good)
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])  // still fetched, in the background
    }

    @Test func hardFailsNamingTheDistributionPointWhenTheFetchFails() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        let pair = EnginePair(client: try client(.hard, services: services), server: try server("cdp"))
        #expect(pair.handshake().client == .waitingForRevocationData)
        fetcher.complete(.failure(CRLFetchFailure(reason: "connection refused")))
        let error = try #require(pair.handshake().client.error)
        #expect(error.reason.contains("fetching \(RevocationCertificates.distributionPoint) failed: connection refused"))
    }

    @Test func softDoesNotWaitButStartsTheFetch() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        let pair = EnginePair(client: try client(.soft, services: services), server: try server("cdp"))
        #expect(pair.handshake().client == .complete)
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])
        #expect(pair.client.revocationReport?.reason.contains("not yet available, fetching") == true)
    }

    @Test func anUntrustedChainNeverTriggersAFetch() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        var configuration = TLSClientConfiguration(caFile: try TestCertificates.shared.caFile)
        configuration.revocation = .hard
        let client = try TLSEngine(
            context: TLSClientContext(configuration: configuration, revocation: services), serverName: "localhost")
        let pair = EnginePair(client: client, server: try server("cdp"))
        let error = try #require(pair.handshake().client.error)
        #expect(error.code == .certificateVerification)
        #expect(fetcher.requested.isEmpty)
    }

    @Test func aCertificateOutsideTheVerifiedChainIsNeitherFetchedNorAwaited() throws {
        // crl_file covers the real chain: nothing to wait for, and the stranger's loopback URL is not fetched.
        let covering = HeldCRLFetcher()
        let coveringServices = RevocationServices(cache: CRLCache(fetcher: covering))
        let covered = EnginePair(
            client: try client(.hard, crlFile: pki.crlPEM, services: coveringServices),
            server: try server("cdp-stranger"))
        #expect(covered.handshake().client == .complete)
        #expect(covering.requested == [RevocationCertificates.distributionPoint])
        // Without it: the handshake waits for the chain's distribution point only, and completes once it settles.
        let fetcher = HeldCRLFetcher()
        let pair = EnginePair(
            client: try client(.hard, services: RevocationServices(cache: CRLCache(fetcher: fetcher))),
            server: try server("cdp-stranger"))
        #expect(pair.handshake().client == .waitingForRevocationData)
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])
        #expect(pair.client.revocation?.awaitedURLs == [RevocationCertificates.distributionPoint])
        fetcher.complete(.success(try fileBytes(pki.crlDER)))
        #expect(pair.handshake().client == .complete)
        #expect(pair.client.revocationReport?.result == .good)
        #expect(fetcher.requested.isEmpty)
    }

    @Test func atMostTwoDistributionPointsOfACertificateAreFetched() throws {
        let fetcher = HeldCRLFetcher()
        let services = RevocationServices(cache: CRLCache(fetcher: fetcher))
        let pair = EnginePair(client: try client(.soft, services: services), server: try server("many-cdp"))
        #expect(pair.handshake().client == .complete)
        #expect(fetcher.requested == Array(RevocationCertificates.manyDistributionPoints.prefix(2)))
    }

    @Test func hardWaitsForTheRefetchOfAnExpiredCachedCRL() throws {
        let expired = try fileBytes(pki.path("expired.crl.pem"))
        let nextUpdate = try #require(try CertificateRevocationList.parseAll(expired, what: "t")[0].nextUpdate)
        let fetcher = HeldCRLFetcher()
        let clock = TestClock()
        clock.seconds.withLock { $0 = time(nil) }
        let cache = CRLCache(fetcher: fetcher, now: clock.now)
        cache.fetch(RevocationCertificates.distributionPoint)
        fetcher.complete(.success(expired))
        clock.advance(60)  // its refresh is due
        while time(nil) <= nextUpdate { usleep(50_000) }  // until the one-second CRL has expired
        let pair = EnginePair(client: try client(.hard, services: RevocationServices(cache: cache)), server: try server("cdp"))
        #expect(pair.handshake().client == .waitingForRevocationData)
        fetcher.complete(.success(try fileBytes(pki.crlDER)))
        #expect(pair.handshake().client == .complete)
        #expect(pair.client.revocationReport?.result == .good)
    }

    @Test func aHandshakeArrivingDuringTheRefetchOfAnExpiredCRLWaitsForItToo() throws {
        let expired = try fileBytes(pki.path("expired.crl.pem"))
        let nextUpdate = try #require(try CertificateRevocationList.parseAll(expired, what: "t")[0].nextUpdate)
        let fetcher = HeldCRLFetcher()
        let clock = TestClock()
        clock.seconds.withLock { $0 = time(nil) }
        let cache = CRLCache(fetcher: fetcher, now: clock.now)
        cache.fetch(RevocationCertificates.distributionPoint)
        fetcher.complete(.success(expired))
        clock.advance(60)  // its refresh is due
        while time(nil) <= nextUpdate { usleep(50_000) }  // until the one-second CRL has expired
        let services = RevocationServices(cache: cache)
        let first = EnginePair(client: try client(.hard, services: services), server: try server("cdp"))
        #expect(first.handshake().client == .waitingForRevocationData)  // starts the refetch
        let second = EnginePair(client: try client(.hard, services: services), server: try server("cdp"))
        #expect(second.handshake().client == .waitingForRevocationData)  // the refetch is under way
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])
        fetcher.complete(.success(try fileBytes(pki.crlDER)))
        for pair in [first, second] {
            #expect(pair.handshake().client == .complete)
            #expect(pair.client.revocationReport?.result == .good)
        }
    }
}

/// The same over `TLSStream`: a hard-mode handshake suspended for a fetch resumes on its loop when the fetch
/// settles, and the stream becomes ready only then.
@Suite struct RevocationStreamTests {
    @Test func aSuspendedHandshakeResumesWhenTheFetchSettles() throws {
        let pki = try RevocationCertificates.shared
        let fetcher = HeldCRLFetcher()
        var configuration = TLSClientConfiguration(caFile: pki.caFile)
        configuration.revocation = .hard
        let clientContext = try TLSClientContext(
            configuration: configuration, revocation: RevocationServices(cache: CRLCache(fetcher: fetcher)))
        let serverContext = try TLSServerContext(
            configuration: TLSServerConfiguration(certificateChainFile: pki.path("cdp.pem"), privateKeyFile: pki.path("cdp.key")))
        let loop = EventLoop(label: "tls-revocation-stream-test")
        let clientEvents = RecordingDelegate()
        let serverEvents = RecordingDelegate()
        try loop.runAndWait {
            let (a, b) = MemoryStream.makePair(on: loop)
            let client = try TLSStream(underlying: a, context: clientContext, serverName: "localhost")
            let server = try TLSStream(underlying: b, context: serverContext)
            client.delegate = clientEvents
            server.delegate = serverEvents
            clientEvents.onReady = { stream in stream.write(Array("ping".utf8)) }
            serverEvents.onRead = { stream, events in
                if events.received.count == 4 { stream.close() }
            }
            client.start()
            server.start()
        }
        // The client suspends on the unknown distribution point and asks for it.
        var waited = 0
        while fetcher.requested.isEmpty && waited < 2000 {
            usleep(5000)
            waited += 1
        }
        #expect(fetcher.requested == [RevocationCertificates.distributionPoint])
        loop.runAndWait { #expect(!clientEvents.becameReady) }
        fetcher.complete(.success(try fileBytes(pki.crlDER)))
        #expect(serverEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(clientEvents.becameReady)
            #expect(serverEvents.received == Array("ping".utf8))
        }
    }
}
