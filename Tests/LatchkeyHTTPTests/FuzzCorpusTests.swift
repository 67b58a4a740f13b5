import Foundation
import LatchkeyHTTP
import Testing

/// Replays the committed fuzz seeds (and any reproducer added next to them) through the
/// invariant the fuzzer checks: whole, drip-fed and split input give the same outcome.
@Suite struct FuzzCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    static var seeds: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    @Test func corpusIsPresent() {
        #expect(Self.seeds.count >= 6)
    }

    @Test(arguments: seeds)
    func seedParsesTheSameWhicheverWayItIsSplit(_ name: String) throws {
        let data = try #require(FileManager.default.contents(atPath: Self.directory.appendingPathComponent(name).path))
        let wire = [UInt8](data)
        let request = parseRequest([wire])
        let response = parseResponse([wire], methods: ["GET", "GET", "GET"], eof: true)
        // Seeds are valid messages of one kind or the other.
        #expect(name.hasPrefix("request") ? request.error == nil : response.error == nil)
        for pieces in splits(wire) {
            #expect(parseRequest(pieces) == request, "split into \(pieces.map(\.count))")
            #expect(parseResponse(pieces, methods: ["GET", "GET", "GET"], eof: true) == response)
        }
    }
}
