import Foundation
import Testing

@testable import LatchkeyConfig

/// Issue 9: nesting and alias expansion are bounded before Yams composes a tree (its composer recurses
/// once per level; 5,000 levels overflowed the reload thread's stack).
@Suite struct YAMLStructureGuardTests {
    static func nestedSequences(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }
    static func nestedMappings(_ depth: Int) -> String {
        (0..<depth).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " v\n"
    }

    @Test func depthAtTheLimitPassesTheGuard() {
        #expect(YAMLStructureGuard.check(Self.nestedSequences(YAMLStructureGuard.maxDepth)) == nil)
        #expect(YAMLStructureGuard.check(Self.nestedMappings(YAMLStructureGuard.maxDepth)) == nil)
    }

    @Test func oneLevelDeeperIsRefused() {
        let flow = YAMLStructureGuard.check(Self.nestedSequences(YAMLStructureGuard.maxDepth + 1))
        #expect(flow?.message == "YAML nested deeper than 64 levels")
        #expect(flow?.line == 1 && flow?.column == 65)
        let block = YAMLStructureGuard.check(Self.nestedMappings(YAMLStructureGuard.maxDepth + 1))
        #expect(block?.line == YAMLStructureGuard.maxDepth + 1, "\(String(describing: block))")
    }

    @Test func fiveThousandLevelsIsAConfigErrorNotACrash() {
        for text in [
            Self.nestedSequences(5_000), "routes: " + Self.nestedSequences(5_000), Self.nestedMappings(2_000),
            String(repeating: "- ", count: 5_000) + "x",
            String(repeating: "{a: ", count: 5_000) + "b" + String(repeating: "}", count: 5_000),
        ] {
            let found = errors(text)
            #expect(
                found.count == 1 && found[0].message.hasPrefix("YAML nested deeper than 64 levels"),
                "\(text.prefix(20)): \(found.prefix(1))")
        }
    }

    @Test func aliasesCountAtTheDepthOfWhatTheyName() {
        // a is 40 deep; using it inside 30 more levels stands for 70.
        let text =
            "a: &a " + Self.nestedSequences(40) + "\nb: " + String(repeating: "[", count: 30) + "*a"
            + String(repeating: "]", count: 30) + "\n"
        #expect(YAMLStructureGuard.check(text)?.message == "YAML nested deeper than 64 levels (aliases expanded)")
        #expect(YAMLStructureGuard.check("a: &a " + Self.nestedSequences(40) + "\nb: [[*a]]\n") == nil)
    }

    @Test func billionLaughsIsRefused() {
        var text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            text +=
                "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        let violation = YAMLStructureGuard.check(text)
        #expect(violation?.message.contains("aliases expanded") == true, "\(String(describing: violation))")
        #expect(errors(text).count == 1)
    }

    @Test func ordinaryAliasesAndTheExampleConfigPass() throws {
        #expect(
            YAMLStructureGuard.check(
                "tls: &tls {ca_file: ca.pem}\nroutes:\n  - {host: a, tls: *tls}\n  - {host: b, tls: *tls}\n") == nil)
        let example = try ConfigLoader.readFile(Fixture.examplePath)
        #expect(YAMLStructureGuard.check(example) == nil)
    }

    @Test func oversizedTextIsRefused() {
        let text = "# " + String(repeating: "x", count: YAMLStructureGuard.maxBytes) + "\n"
        #expect(YAMLStructureGuard.check(text)?.message == "configuration is larger than 4 MiB")
    }

    @Test func syntaxErrorsAreLeftToYams() {
        #expect(YAMLStructureGuard.check("a: [unclosed") == nil)
        #expect(errors("a: [unclosed").first?.message.hasPrefix("invalid YAML") == true)
    }

    @Test func adminAddressReadingIsGuardedToo() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "deep-\(UInt64.random(in: 0...UInt64.max)).yaml"
        ).path
        try (Self.nestedSequences(5_000)).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ConfigErrors.self) { _ = try ConfigLoader.adminAddress(path: path) }
    }
}
