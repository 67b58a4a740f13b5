import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import Testing

@testable import LatchkeyProxy

/// `workers:` and `event_loop:` resolved against the CPU budget.
@Suite struct EventLoopPlanTests {
    private static let twoCPUs = CPUBudget(affinityCPUs: 2, onlineCPUs: 2, quota: nil)
    private static let sidecar = CPUBudget(
        affinityCPUs: 64, onlineCPUs: 64,
        quota: CPUQuota(quotaMicroseconds: 50_000, periodMicroseconds: 100_000, file: "/sys/fs/cgroup/cpu.max"))

    @Test func autoFollowsTheBudget() {
        let plan = EventLoopPlan(workers: .auto, eventLoop: .epoll, budget: Self.twoCPUs)
        #expect(plan.count == 2)
        #expect(plan.backend == .epoll)
        #expect(plan.warning == nil)
        #expect(plan.summary == "2 event loops (epoll): affinity 2 CPUs, cgroup quota none")
    }

    @Test func aSidecarWith500mGetsOneLoop() {
        let plan = EventLoopPlan(workers: .auto, eventLoop: .dispatch, budget: Self.sidecar)
        #expect(plan.count == 1)
        #expect(plan.backend == .dispatch)
        #expect(
            plan.summary
                == "1 event loop (dispatch): affinity 64 CPUs, cgroup quota 0.5 CPU (/sys/fs/cgroup/cpu.max)")
    }

    @Test func aFixedCountWinsAndSaysSo() {
        let plan = EventLoopPlan(workers: .fixed(1), eventLoop: .epoll, budget: Self.twoCPUs)
        #expect(plan.count == 1)
        #expect(plan.warning == nil)
        #expect(plan.summary == "1 event loop (epoll): workers: 1 in the configuration (affinity 2 CPUs, cgroup quota none)")
    }

    @Test func moreLoopsThanCPUsIsWarnedAbout() {
        let plan = EventLoopPlan(workers: .fixed(4), eventLoop: .epoll, budget: Self.sidecar)
        #expect(plan.count == 4)
        #expect(plan.warning?.hasPrefix("workers: 4 is more than the 1 CPU this process may use") == true)
    }

    @Test func everyChoiceMapsToItsBackend() {
        for choice in EventLoopChoice.allCases {
            #expect(EventLoopPlan.backend(choice).rawValue == choice.rawValue)
        }
    }

    @Test func theServerMakesThePlannedLoopsAndExportsThem() throws {
        let metrics = LatchkeyMetrics(version: "test")
        let runtime = try ProxyRuntime(configuration: ProxyConfiguration(sourcePath: "test"), metrics: metrics) { _ in
            preconditionFailure("no connections")
        }
        let server = ProxyServer(
            runtime: runtime, logger: .init(label: "test"), scrubber: SecretScrubber(), ownListeners: OwnListeners(),
            loopCount: 3, backend: .dispatch)
        #expect(server.group.loops.count == 3)
        #expect(server.group.backend == .dispatch)
        #expect(metrics.render().contains("latchkey_event_loops{backend=\"dispatch\"} 3\n"))
    }
}
