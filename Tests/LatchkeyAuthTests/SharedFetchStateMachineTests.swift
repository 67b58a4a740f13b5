import Testing

@testable import LatchkeyAuth

/// The shared store's lease, wait and degraded-mode decisions, one event at a time, with no store and no
/// socket: wall time and monotonic time are plain numbers here.
@Suite struct SharedFetchStateMachineTests {
    static let t0 = MonotonicInstant(sinceOrigin: .seconds(100))
    static let wall = 1_700_000_000.0
    static let failure = SharedStoreFailure(reason: "store_timeout", detail: "no reply")

    static func record(age: Double, lifetime: Double = 60, token: String = "stored") -> SharedTokenRecord {
        SharedTokenRecord(grant: TokenGrant(accessToken: token, expiresIn: .seconds(lifetime)), issuedAt: wall - age)
    }

    var machine = SharedFetchStateMachine(maximumWait: .seconds(10))

    mutating func step(_ event: SharedFetchStateMachine.Event, after seconds: Double = 0) -> SharedFetchStateMachine.Action {
        machine.event(event, now: Self.t0 + .milliseconds(Int64(seconds * 1000)), wallNow: Self.wall + seconds)
    }

    @Test mutating func freshRecordIsUsedWithoutALease() {
        guard case .read = step(.start) else { Issue.record("expected a read"); return }
        guard case .use(let grant, let release) = step(.readFinished(.success(Self.record(age: 10)))) else {
            Issue.record("expected the stored token"); return
        }
        #expect(grant.accessToken == "stored" && !release)
        #expect(grant.expiresIn == .seconds(50))  // what is left of its lifetime
        #expect(machine.state == .done && !machine.degraded)
    }

    @Test mutating func missTakesTheLeaseReadsAgainThenFetchesUnderIt() {
        _ = step(.start)
        guard case .takeLease = step(.readFinished(.success(nil))) else { Issue.record("expected the lease"); return }
        guard case .read = step(.leaseFinished(.success(true))) else { Issue.record("expected a second read"); return }
        guard case .fetch(shared: true) = step(.readFinished(.success(nil))) else { Issue.record("expected a fetch"); return }
        guard case .publish(let grant, releaseLease: true) = step(.fetchFinished(.success(TokenGrant(accessToken: "new", expiresIn: nil))))
        else { Issue.record("expected publish + release"); return }
        #expect(grant.accessToken == "new")
    }

    @Test mutating func recordWrittenBetweenReadAndLeaseIsTakenAndTheLeaseReleased() {
        _ = step(.start)
        _ = step(.readFinished(.success(nil)))
        _ = step(.leaseFinished(.success(true)))
        guard case .use(_, releaseLease: true) = step(.readFinished(.success(Self.record(age: 0.1)))) else {
            Issue.record("expected the other replica's token"); return
        }
    }

    @Test mutating func recordPastHalfItsLifeIsRenewedNotReused() {
        _ = step(.start)
        // 35 s into 60: renewal may be due (never before half the lifetime), so lease and fetch.
        guard case .takeLease = step(.readFinished(.success(Self.record(age: 35)))) else { Issue.record("expected the lease"); return }
    }

    @Test mutating func recordInsideItsExpirySkewCountsAsNone() {
        _ = step(.start)
        _ = step(.readFinished(.success(nil)))
        _ = step(.leaseFinished(.success(false)))
        _ = step(.pollDue)
        // A new record, but with 0.5 s left of 4 (the manager would not inject it): keep trying.
        guard case .takeLease = step(.readFinished(.success(Self.record(age: 3.5, lifetime: 4)))) else {
            Issue.record("expected the lease"); return
        }
    }

    @Test mutating func loserPollsUntilTheHoldersRecordAppears() {
        _ = step(.start)
        let old = Self.record(age: 40)
        _ = step(.readFinished(.success(old)))
        guard case .pollAfter(let delay) = step(.leaseFinished(.success(false))) else { Issue.record("expected a poll"); return }
        #expect(delay == SharedFetchStateMachine.pollInterval)
        guard case .read = step(.pollDue, after: 0.05) else { Issue.record("expected a read"); return }
        // Still the old record (the holder's fetch runs): try the lease again, then poll again.
        guard case .takeLease = step(.readFinished(.success(old)), after: 0.06) else { Issue.record("expected the lease"); return }
        guard case .pollAfter = step(.leaseFinished(.success(false)), after: 0.07) else { Issue.record("expected a poll"); return }
        _ = step(.pollDue, after: 0.12)
        guard case .use(let grant, releaseLease: false) = step(.readFinished(.success(Self.record(age: 0, token: "holder's"))), after: 0.13)
        else { Issue.record("expected the holder's token"); return }
        #expect(grant.accessToken == "holder's")
    }

    @Test mutating func holderThatNeverWritesMakesTheWaiterFetchAloneAfterMaximumWait() {
        _ = step(.start)
        _ = step(.readFinished(.success(nil)))
        _ = step(.leaseFinished(.success(false)))
        _ = step(.pollDue, after: 9)
        _ = step(.readFinished(.success(nil)), after: 9)
        guard case .fetch(shared: false) = step(.leaseFinished(.success(false)), after: 10) else {
            Issue.record("expected a fetch of its own"); return
        }
    }

    @Test(arguments: [0, 1, 2]) mutating func anyStoreFailureFetchesAloneAtOnce(at stage: Int) {
        _ = step(.start)
        var action: SharedFetchStateMachine.Action
        if stage == 0 {
            action = step(.readFinished(.failure(Self.failure)))
        } else {
            _ = step(.readFinished(.success(nil)))
            if stage == 1 {
                action = step(.leaseFinished(.failure(Self.failure)))
            } else {
                _ = step(.leaseFinished(.success(false)))
                _ = step(.pollDue)
                action = step(.readFinished(.failure(Self.failure)))
            }
        }
        guard case .fetch(shared: false) = action else { Issue.record("expected a degraded fetch, got \(action)"); return }
        #expect(machine.degraded)
    }

    @Test mutating func failedFetchReleasesTheLease() {
        _ = step(.start)
        _ = step(.readFinished(.success(nil)))
        _ = step(.leaseFinished(.success(true)))
        _ = step(.readFinished(.success(nil)))
        let error = CredentialError(.endpointUnavailable, connection: "c", detail: "503")
        guard case .fail(_, releaseLease: true) = step(.fetchFinished(.failure(error))) else { Issue.record("expected fail + release"); return }
        guard case .none = step(.pollDue) else { Issue.record("a late event must do nothing"); return }
    }
}

@Suite struct SharedRecordSealerTests {
    let sealer = SharedRecordSealer(key: Array(repeating: 7, count: 32))!

    @Test func roundTripsAndHidesTheToken() throws {
        let record = SharedTokenRecord(grant: TokenGrant(accessToken: "eyJ-secret-token", expiresIn: .seconds(60)), issuedAt: 1000)
        let sealed = try sealer.sealRecord(record, storeKey: "p/token/c/ab")
        #expect(Array(sealed.prefix(4)) == Array("LKR1".utf8))
        #expect(!String(decoding: sealed, as: UTF8.self).contains("secret-token"))
        #expect(try sealer.openRecord(sealed, as: SharedTokenRecord.self, storeKey: "p/token/c/ab") == record)
        // Moved to another key, opened with another state_key, or tampered with: refused.
        #expect(throws: CryptoError.self) { try sealer.openRecord(sealed, as: SharedTokenRecord.self, storeKey: "p/token/other/ab") }
        let other = SharedRecordSealer(key: Array(repeating: 8, count: 32))!
        #expect(throws: CryptoError.self) { try other.openRecord(sealed, as: SharedTokenRecord.self, storeKey: "p/token/c/ab") }
        var tampered = sealed
        tampered[20] ^= 1
        #expect(throws: CryptoError.self) { try sealer.openRecord(tampered, as: SharedTokenRecord.self, storeKey: "p/token/c/ab") }
        #expect(SharedRecordSealer(key: [1, 2, 3]) == nil)
    }
}
