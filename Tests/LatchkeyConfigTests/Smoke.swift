import Testing

@Test func LatchkeyConfigTestsBuilds() { #expect(Bool(true)) }
