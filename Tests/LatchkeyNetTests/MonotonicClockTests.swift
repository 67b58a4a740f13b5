import Testing

@testable import LatchkeyNet

@Suite struct MonotonicClockTests {
    @Test func saturatingNanosecondsTruncatesTowardZero() {
        #expect(Duration.zero.saturatingNanoseconds == 0)
        #expect(Duration.milliseconds(1500).saturatingNanoseconds == 1_500_000_000)
        #expect(Duration.seconds(30).saturatingNanoseconds == 30_000_000_000)  // past 2^64 attoseconds
        #expect(Duration.nanoseconds(-7).saturatingNanoseconds == -7)
        // 1.9 ns and -1.9 ns: the fraction goes, toward zero either way.
        let nineTenths = Duration(secondsComponent: 0, attosecondsComponent: 900_000_000)
        #expect((Duration.nanoseconds(1) + nineTenths).saturatingNanoseconds == 1)
        #expect((Duration.nanoseconds(-1) - nineTenths).saturatingNanoseconds == -1)
    }

    @Test func saturatingNanosecondsClampsToInt64() {
        #expect(Duration.seconds(Int64.max).saturatingNanoseconds == Int64.max)
        #expect(Duration.seconds(Int64.min).saturatingNanoseconds == Int64.min)
        #expect(Duration.seconds(9_223_372_036).saturatingNanoseconds == 9_223_372_036_000_000_000)
        #expect(Duration.seconds(9_223_372_037).saturatingNanoseconds == Int64.max)
    }

    @Test func clockMovesForward() {
        let first = MonotonicClock.nanoseconds()
        #expect(MonotonicClock.nanoseconds() >= first)
    }
}
