import Testing

@testable import LatchkeyProxy

/// The exchange's monotonic instant: arithmetic with durations, saturation, and the clock moving forward.
@Suite struct ExchangeInstantTests {
    @Test func durationsAddAndInstantsSubtract() {
        let start = ExchangeInstant(nanoseconds: 5_000)
        let later = start + .milliseconds(3)
        #expect(later.nanoseconds == 3_005_000)
        #expect(later - start == .milliseconds(3))
        #expect(start < later)
    }

    @Test func aYearLongDeadlineNeverOverflows() {
        let late = ExchangeInstant(nanoseconds: .max - 10)
        #expect((late + RetryPolicy.maximumDeadline).nanoseconds == .max)
        let early = ExchangeInstant(nanoseconds: .min + 10)
        #expect((early + .seconds(-1)).nanoseconds == .min)
    }

    @Test func theClockDoesNotGoBack() {
        let first = ExchangeInstant.now
        let second = ExchangeInstant.now
        #expect(second >= first)
    }
}
