import Testing

@testable import LatchkeyConfig

/// The per-route `http2:` key: its default, its three values, and the error for anything else.
@Suite struct HTTP2ConfigTests {
    @Test func defaultsToAuto() throws {
        let route = try #require(try parse("routes:\n  - host: a.example").routes.first)
        #expect(route.http2 == .auto)
    }

    @Test(arguments: [("auto", HTTP2Mode.auto), ("always", .always), ("never", .never)])
    func everyValue(_ text: String, _ mode: HTTP2Mode) throws {
        let route = try #require(try parse("routes:\n  - host: a.example\n    http2: \(text)").routes.first)
        #expect(route.http2 == mode)
    }

    @Test func anUnknownValueIsAnErrorAtTheValue() {
        expectSingleError(
            "routes:\n  - host: a.example\n    http2: alway", line: 3, column: 12, keyPath: "routes[0].http2",
            message: "expected one of: auto, always, never")
    }
}
