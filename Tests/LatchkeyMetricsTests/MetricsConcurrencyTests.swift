import Dispatch
import Synchronization
import Testing

@testable import LatchkeyMetrics

extension MetricsTests {
    /// Lock-free children under contention: nothing lost, nothing torn, scrapes never crash.
    @Suite struct Concurrency {
        static let threads = 8
        static let perThread = 100_000

        @Test func concurrentIncrementsSumExactly() {
            let family = MetricsRegistry().counter("c_total", help: "C.", labels: ["route"])
            let shared = family.child(["shared"])
            DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
                let own = family.child(["thread-\(thread)"])
                for _ in 0..<Self.perThread {
                    shared.increment()
                    own.increment()
                }
            }
            #expect(shared.value == UInt64(Self.threads * Self.perThread))
            for thread in 0..<Self.threads {
                #expect(family.child(["thread-\(thread)"]).value == UInt64(Self.perThread))
            }
        }

        @Test func concurrentObservationsKeepHistogramConsistent() {
            let histogram = MetricsRegistry().histogram("h", help: "H.", buckets: [0.001, 0.01]).child([])
            DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
                for index in 0..<Self.perThread {
                    histogram.observe(.microseconds(Int64((index + thread) % 3) * 5_000))  // 0, 5 ms, 10 ms
                }
            }
            let (cumulative, count, _) = histogram.snapshot()
            #expect(count == UInt64(Self.threads * Self.perThread))
            #expect(cumulative[1] == count)
        }

        @Test func concurrentFirstUseYieldsOneChild() {
            let family = MetricsRegistry().counter("c_total", help: "C.", labels: ["route"])
            let seen = Mutex<Set<ObjectIdentifier>>([])
            DispatchQueue.concurrentPerform(iterations: 64) { _ in
                let child = family.child(["same"])
                child.increment()
                seen.withLock { _ = $0.insert(ObjectIdentifier(child)) }
            }
            #expect(seen.withLock { $0.count } == 1)
            #expect(family.child(["same"]).value == 64)
        }

        @Test func renderWhileIncrementingStaysWellFormed() {
            let metrics = LatchkeyMetrics(version: "test")
            let done = Atomic<Bool>(false)
            metrics.setTokenExpiryProvider { ["partner": 42] }
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                if worker == 0 {
                    var renders = 0
                    while !done.load(ordering: .relaxed) || renders < 50 {
                        let text = metrics.render()
                        #expect(text.hasSuffix("\n"))
                        #expect(!text.contains("\n\n"))
                        renders += 1
                    }
                } else {
                    for index in 0..<20_000 {
                        // New label combinations appear while scrapes run.
                        metrics.route("route-\(worker)-\(index % 50)", connection: nil)
                            .record(status: 200 + index % 400, duration: .microseconds(Int64(index)),
                                upstreamDuration: nil, attempts: 1)
                        metrics.clientConnectionsOpen.increment()
                        metrics.clientConnectionsOpen.decrement()
                    }
                    done.store(true, ordering: .relaxed)
                }
            }
            #expect(metrics.clientConnectionsOpen.value == 0)
        }
    }
}
