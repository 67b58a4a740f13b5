import LatchkeyAuth
import Testing

@Suite struct RefreshScheduleTests {
    @Test(arguments: [
        (3600, 2880.0),  // 1 h: 20 % = 12 min before → 48 min after issue
        (600, 480.0),  // 10 min: max(120 s, 60 s) before → 8 min
        (5, 2.5),  // 5 s: 60 s floor capped at half the lifetime
        (120, 60.0),  // 2 min: max(24, 60) = 60 s before = exactly half
        (200, 140.0),  // max(40, 60) = 60 before → 140 ≥ 100
    ])
    func defaultScheduleWithoutJitter(lifetime: Int, expectedSeconds: Double) {
        let delay = RefreshSchedule.renewalDelay(lifetime: .seconds(lifetime), random: 0)
        #expect(delay == .milliseconds(Int64(expectedSeconds * 1000)))
    }

    @Test func jitterIsEarlierAndBounded() {
        for random in stride(from: 0.0, through: 0.999, by: 0.111) {
            let hour = RefreshSchedule.renewalDelay(lifetime: .seconds(3600), random: random)
            #expect(hour <= .seconds(2880) && hour >= .seconds(2880 - 180))  // up to 5 % of the lifetime earlier
            let short = RefreshSchedule.renewalDelay(lifetime: .seconds(5), random: random)
            #expect(short == .milliseconds(2500))  // never earlier than half the lifetime
        }
        #expect(RefreshSchedule.renewalDelay(lifetime: .seconds(3600), random: 0.999_999) > .seconds(2700))
    }

    @Test func configuredRefreshBefore() {
        #expect(RefreshSchedule.renewalDelay(lifetime: .seconds(3600), configuredRefreshBefore: .seconds(300), random: 0) == .seconds(3300))
        // A threshold longer than the lifetime still waits half of it (no renewal loop).
        #expect(RefreshSchedule.renewalDelay(lifetime: .seconds(10), configuredRefreshBefore: .seconds(60), random: 0) == .seconds(5))
        #expect(RefreshSchedule.renewalDelay(lifetime: .zero, random: 0) == RefreshSchedule.minimumDelay)
    }

    @Test func backoffDoublesToCapWithBoundedJitter() {
        let backoff = Backoff.renewal
        let plain = (1...8).map { backoff.delay(failures: $0, random: 0) }
        #expect(plain == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        for failures in 1...8 {
            let jittered = backoff.delay(failures: failures, random: 0.99)
            #expect(jittered <= plain[failures - 1] && jittered >= plain[failures - 1] * 0.8)
        }
        #expect(Backoff.coldCache.delay(failures: 1, random: 0) == .milliseconds(250))
        #expect(Backoff.coldCache.delay(failures: 100, random: 0) == .seconds(5))
    }
}
