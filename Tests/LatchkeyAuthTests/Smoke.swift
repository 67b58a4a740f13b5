import Testing

@Test func LatchkeyAuthTestsBuilds() { #expect(Bool(true)) }
