import Testing

@Test func LatchkeyNetTestsBuilds() { #expect(Bool(true)) }
