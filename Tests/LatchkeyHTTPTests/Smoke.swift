import Testing

@Test func LatchkeyHTTPTestsBuilds() { #expect(Bool(true)) }
