import LatchkeyConfig
import Testing

import struct Foundation.Date

@testable import LatchkeyProxy
@testable import LatchkeyHTTP

/// RetryPolicy: retryable outcomes in both modes, the delay schedule (fixed, exponential with full jitter,
/// Retry-After) and the default deadline.
@Suite struct RetryPolicyTests {
    static func policy(
        maxRetries: Int = 3, delayMs: Int = 200, exponential: Bool = false, allErrors: Bool = false,
        timeoutMs: Int = 1_000, deadlineMs: Int? = nil
    ) -> RetryPolicy {
        RetryPolicy(
            settings: RetrySettings(
                maxRetries: maxRetries, delayMs: delayMs, exponentialBackoff: exponential, retryOnAllErrors: allErrors),
            timeoutMs: timeoutMs, deadlineMs: deadlineMs)
    }

    // MARK: isRetryable

    @Test func networkOutcomesAreRetryableInBothModes() {
        for allErrors in [false, true] {
            let p = Self.policy(allErrors: allErrors)
            #expect(p.isRetryable(.connectFailed))
            #expect(p.isRetryable(.networkError))
            #expect(p.isRetryable(.timedOut))
        }
    }

    @Test(arguments: [
        // status, redirectFollowed, retryable with retry_on_all_errors false, with true
        (200, false, false, false), (204, false, false, false), (101, false, false, false),
        (500, false, true, true), (502, false, true, true), (503, false, true, true), (504, false, true, true),
        (599, false, true, true), (501, false, true, true),
        (400, false, false, true), (401, false, false, true), (403, false, false, true), (404, false, false, true),
        (429, false, false, true), (499, false, false, true),
        (301, false, false, true), (302, false, false, true), (307, false, false, true), (300, false, false, true),
        (301, true, false, false), (302, true, false, false), (303, true, false, false), (308, true, false, false),
        (304, false, false, false),
    ])
    func statusMatrix(status: Int, followed: Bool, whenFalse: Bool, whenTrue: Bool) {
        #expect(Self.policy(allErrors: false).isRetryable(.status(status), redirectFollowed: followed) == whenFalse)
        #expect(Self.policy(allErrors: true).isRetryable(.status(status), redirectFollowed: followed) == whenTrue)
    }

    // MARK: maxAttempts and deadline

    @Test func maxAttemptsIsRetriesPlusOne() {
        #expect(Self.policy(maxRetries: 0).maxAttempts == 1)
        #expect(Self.policy(maxRetries: 3).maxAttempts == 4)
    }

    @Test func explicitDeadlineWins() {
        #expect(Self.policy(timeoutMs: 10_000, deadlineMs: 250).deadline == .milliseconds(250))
    }

    @Test func defaultDeadlineWithFixedDelay() {
        // 4 attempts × 1 s + 3 delays × 200 ms, plus the per-attempt slack (RetryPolicy.deadlineSlack)
        #expect(Self.policy(maxRetries: 3, delayMs: 200, timeoutMs: 1_000).deadline == .milliseconds(4_600 + 4 * 100))
        #expect(Self.policy(maxRetries: 0, timeoutMs: 1_000).deadline == .milliseconds(1_000 + 100))
        #expect(Self.policy(maxRetries: 2, delayMs: 0, timeoutMs: 300).deadline == .milliseconds(900 + 3 * 100))
    }

    @Test func defaultDeadlineWithBackoffAddsTheLargestDelays() {
        // 4 attempts × 1 s + 100 + 200 + 400 ms
        #expect(Self.policy(maxRetries: 3, exponential: true, timeoutMs: 1_000).deadline == .milliseconds(4_700 + 4 * 100))
        // 10 retries: 100+200+...+6400 (7 retries) = 12 700, then 3 × 10 000 capped; + 11 × 1 s
        #expect(
            Self.policy(maxRetries: 10, exponential: true, timeoutMs: 1_000).deadline == .milliseconds(11_000 + 12_700 + 30_000 + 11 * 100))
    }

    /// Issue 9: values validation would refuse (a policy built by hand) saturate instead of trapping, and
    /// the deadline never passes `maximumDeadline`.
    @Test func hugeValuesSaturate() {
        let huge = Int.max
        for exponential in [false, true] {
            for (retries, delay, timeout, deadline) in [
                (huge, 0, 1_000, nil), (huge, huge, huge, nil), (3, huge - 5, 1_000, nil), (0, 0, huge, nil), (0, 0, 1, Optional(huge)),
            ] {
                let p = Self.policy(maxRetries: retries, delayMs: delay, exponential: exponential, timeoutMs: timeout, deadlineMs: deadline)
                #expect(p.maxAttempts >= 1)
                #expect(p.deadline <= RetryPolicy.maximumDeadline && p.deadline > .zero)
                _ = p.delay(beforeRetry: huge, retryAfter: nil, random: { 1 })
                _ = p.maximumDelay(beforeRetry: huge)
            }
        }
        #expect(Self.policy(maxRetries: huge, delayMs: 0, timeoutMs: 1_000).maxAttempts == Int.max)
    }

    // MARK: delay

    @Test func fixedDelayIgnoresRandom() {
        let p = Self.policy(delayMs: 200)
        var calls = 0
        for retry in 1...5 {
            #expect(p.delay(beforeRetry: retry, retryAfter: nil, random: { calls += 1; return 0.9 }) == .milliseconds(200))
        }
        #expect(calls == 0)
        #expect(Self.policy(delayMs: 0).delay(beforeRetry: 1, retryAfter: nil, random: { 0.5 }) == .zero)
    }

    @Test func backoffBoundsDoubleUpToTheCap() {
        let p = Self.policy(maxRetries: 20, exponential: true)
        let expected: [Duration] = [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_600),
            .milliseconds(3_200), .milliseconds(6_400), .seconds(10), .seconds(10), .seconds(10),
        ]
        for (index, bound) in expected.enumerated() {
            #expect(p.maximumDelay(beforeRetry: index + 1) == bound)
        }
        #expect(p.maximumDelay(beforeRetry: 1_000) == .seconds(10))
        #expect(p.maximumDelay(beforeRetry: Int.max) == .seconds(10))
        #expect(p.maximumDelay(beforeRetry: 0) == .milliseconds(100))
    }

    @Test func fullJitterStaysWithinBounds() {
        let p = Self.policy(maxRetries: 20, exponential: true)
        var generator = SplitMix64(seed: 42)
        let edges: [Double] = [0, .leastNonzeroMagnitude, 1e-12, 0.5, 1 - 1e-12, 1.0.nextDown]
        for retry in 1...12 {
            let bound = p.maximumDelay(beforeRetry: retry)
            var lowest = bound
            var highest = Duration.zero
            for i in 0..<2_000 {
                let r = i < edges.count ? edges[i] : Double(generator.next() >> 11) / Double(1 << 53)
                let d = p.delay(beforeRetry: retry, retryAfter: nil, random: { r })
                #expect(d >= .zero && d <= bound, "retry \(retry) random \(r) gave \(d) over \(bound)")
                lowest = min(lowest, d)
                highest = max(highest, d)
            }
            // Full jitter: the whole range is used, from 0 to (just under) the bound.
            #expect(lowest == .zero)
            #expect(highest > bound * 0.99)
        }
    }

    @Test func jitterIsProportionalToRandom() {
        let p = Self.policy(exponential: true)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { 0 }) == .zero)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { 0.5 }) == .milliseconds(50))
        #expect(p.delay(beforeRetry: 3, retryAfter: nil, random: { 0.25 }) == .milliseconds(100))
        #expect(p.delay(beforeRetry: 9, retryAfter: nil, random: { 0.5 }) == .seconds(5))
        let nearOne = p.delay(beforeRetry: 2, retryAfter: nil, random: { 1.0.nextDown })
        #expect(nearOne <= .milliseconds(200) && nearOne > .milliseconds(199))
    }

    @Test func faultyRandomIsClamped() {
        let p = Self.policy(exponential: true)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { 7 }) == .milliseconds(100))
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { -3 }) == .zero)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { .nan }) == .zero)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: { .infinity }) == .milliseconds(100))
    }

    @Test func retryAfterReplacesTheComputedDelay() {
        for p in [Self.policy(delayMs: 200), Self.policy(exponential: true)] {
            var called = false
            #expect(p.delay(beforeRetry: 1, retryAfter: .seconds(1), random: { called = true; return 0.5 }) == .seconds(1))
            #expect(p.delay(beforeRetry: 4, retryAfter: .zero, random: { 0.5 }) == .zero)
            #expect(p.delay(beforeRetry: 1, retryAfter: .seconds(60), random: { 0.5 }) == .seconds(60))
            #expect(!called)
        }
    }
}

/// A small deterministic generator, so the jitter test sees the same values every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Retry-After (RFC 9110 §10.2.3): seconds and the three HTTP-date forms, relative to an injected now.
@Suite struct RetryAfterTests {
    /// 1994-11-06T08:49:37Z, the RFC's example date.
    static let example = Date(timeIntervalSince1970: 784_111_777)

    @Test func delaySeconds() {
        #expect(RetryAfter.parse("1", now: Self.example) == .seconds(1))
        #expect(RetryAfter.parse("120", now: Self.example) == .seconds(120))
        #expect(RetryAfter.parse("0", now: Self.example) == .zero)
        #expect(RetryAfter.parse("  5 ", now: Self.example) == .seconds(5))
        #expect(RetryAfter.parse("99999999999999999999999", now: Self.example) ?? .zero > .seconds(1_000_000))
    }

    @Test func negativeSecondsAreZero() {
        #expect(RetryAfter.parse("-5", now: Self.example) == .zero)
    }

    @Test func imfFixdate() {
        let now = Self.example
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .zero)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:47 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Mon, 07 Nov 1994 08:49:37 GMT", now: now) == .seconds(86_400))
        #expect(RetryAfter.parse("Wed, 01 Jan 2025 00:00:00 GMT", now: Date(timeIntervalSince1970: 1_735_689_598)) == .seconds(2))
        // Leap day and a sub-second `now`: rounded up to whole nanoseconds, never early.
        let leap = RetryAfter.parse("Thu, 29 Feb 2024 12:00:01 GMT", now: Date(timeIntervalSince1970: 1_709_208_000.5))
        #expect(leap.map { $0 >= .milliseconds(499) && $0 <= .milliseconds(501) } == true)
    }

    @Test func rfc850Date() {
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:47 GMT", now: Self.example) == .seconds(10))
        // A two-digit year is the nearest: from 2026, "30" is 2030 and "94" is 1994 (more than 50 years ahead).
        let now2026 = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        #expect(RetryAfter.parse("Tuesday, 01-Jan-30 00:00:00 GMT", now: now2026) == .seconds(126_230_400))
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now2026) == .zero)
    }

    @Test func asctimeDate() {
        #expect(RetryAfter.parse("Sun Nov  6 08:49:47 1994", now: Self.example) == .seconds(10))
        #expect(RetryAfter.parse("Sun Nov 06 08:49:38 1994", now: Self.example) == .seconds(1))
    }

    /// Issue 9: a date centuries ahead saturates (it used to overflow Int64 nanoseconds and trap).
    @Test func farFutureDateSaturates() {
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: Self.example) == .seconds(Int64(Int32.max)))
        #expect(RetryAfter.parse("Fri Dec 31 23:59:59 9999", now: Self.example) == .seconds(Int64(Int32.max)))
        #expect(RetryAfter.parse("99999999999999999999999", now: Self.example) == .seconds(Int64(Int32.max)))
    }

    @Test func pastDateIsZero() {
        #expect(RetryAfter.parse("Fri, 01 Jan 1990 00:00:00 GMT", now: Self.example) == .zero)
        #expect(RetryAfter.parse("Mon Jan  1 00:00:00 1990", now: Self.example) == .zero)
    }

    @Test(arguments: [
        "", " ", "soon", "1.5", "+5", "1 2", "0x10",
        "Sun, 06 Nov 1994 08:49:37",  // no GMT
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun Nov  6 08:49:37", "Sun Nov 106 08:49:37 1994",
    ])
    func garbageIsNil(value: String) {
        #expect(RetryAfter.parse(value, now: Self.example) == nil)
    }

    @Test func appliesOnlyTo429And503() {
        #expect(RetryAfter.applies(toStatus: 429))
        #expect(RetryAfter.applies(toStatus: 503))
        for status in [200, 301, 302, 307, 400, 500, 502, 504] {
            #expect(!RetryAfter.applies(toStatus: status))
        }
    }

    @Test func calendarHelpersRoundTrip() {
        #expect(HTTPDate.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(HTTPDate.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let (y, m, d) = HTTPDate.civil(fromDays: days)
            #expect(HTTPDate.daysFromCivil(year: y, month: m, day: d) == days)
        }
    }
}
