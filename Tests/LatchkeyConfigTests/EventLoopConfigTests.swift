import Testing

@testable import LatchkeyConfig

/// `workers:` and `event_loop:` (issue 11).
@Suite struct EventLoopConfigTests {
    @Test func defaultsAreAutoAndThePlatformsMechanism() throws {
        let configuration = try parse("")
        #expect(configuration.workers == .auto)
        #expect(configuration.eventLoop == .epoll)  // Linux
    }

    @Test func explicitValues() throws {
        let configuration = try parse("workers: 3\nevent_loop: dispatch\n")
        #expect(configuration.workers == .fixed(3))
        #expect(configuration.eventLoop == .dispatch)
        #expect(try parse("workers: auto\nevent_loop: epoll\n").workers == .auto)
        #expect(try parse("workers: 64\n").workers == .fixed(64))
        #expect(try parse("workers: 1\n").workers == .fixed(1))
    }

    @Test(arguments: [
        ("0", "must be greater than 0 (allowed range 1 to 64)"),
        ("65", "must be at most 64 (allowed range 1 to 64)"),
        ("-2", "must be greater than 0"),
        ("99999999999999999999999", "must be at most 64"),
        ("many", "expected 'auto' or a number of event loops from 1 to 64, found 'many'"),
        ("2.5", "expected 'auto' or a number of event loops from 1 to 64"),
    ])
    func badWorkersIsAnErrorAtTheKey(value: String, message: String) {
        expectSingleError("listen: 127.0.0.1:0\nworkers: \(value)\n", line: 2, column: 10, keyPath: "workers", message: message)
    }

    @Test func misspeltAutoSuggestsIt() {
        let found = errors("workers: Auto\n")
        #expect(found.first?.suggestion == "did you mean 'auto'?", "\(found)")
    }

    @Test func badEventLoopListsTheChoices() {
        expectSingleError(
            "event_loop: kqueue\n", line: 1, column: 13, keyPath: "event_loop",
            message: "invalid value 'kqueue'; expected one of: epoll, dispatch")
        #expect(errors("event_loop: epol\n").first?.suggestion == "did you mean 'epoll'?")
    }

    @Test func misspeltKeySuggestsIt() {
        let found = errors("worker: 2\n")
        #expect(found.first?.keyPath == "worker")
        #expect(found.first?.suggestion == "did you mean 'workers'?", "\(found)")
    }

    @Test func theSummaryShowsThem() throws {
        #expect(ConfigSummary.render(try parse("workers: 2\nevent_loop: dispatch\n")).contains("  workers:   2 (event_loop dispatch)\n"))
        #expect(ConfigSummary.render(try parse("")).contains("  workers:   auto (event_loop epoll)\n"))
    }
}
