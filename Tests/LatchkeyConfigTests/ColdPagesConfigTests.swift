import Testing

@testable import LatchkeyConfig

/// `cold_pages:` (issue 11, memory).
@Suite struct ColdPagesConfigTests {
    @Test func releaseIsTheDefault() throws {
        #expect(try parse("").coldPages == .release)
        #expect(try parse("cold_pages: release\n").coldPages == .release)
        #expect(try parse("cold_pages: keep\n").coldPages == .keep)
    }

    @Test func aBadValueListsTheChoicesAtTheKey() {
        expectSingleError(
            "listen: 127.0.0.1:0\ncold_pages: drop\n", line: 2, column: 13, keyPath: "cold_pages",
            message: "invalid value 'drop'; expected one of: release, keep")
        #expect(errors("cold_pages: keeps\n").first?.suggestion == "did you mean 'keep'?")
    }
}
