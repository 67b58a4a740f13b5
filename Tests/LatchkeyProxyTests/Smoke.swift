import Testing

@Test func LatchkeyProxyTestsBuilds() { #expect(Bool(true)) }
