import Testing

@Test func LatchkeyTLSTestsBuilds() { #expect(Bool(true)) }
