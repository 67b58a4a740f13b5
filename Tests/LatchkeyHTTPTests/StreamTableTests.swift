import Testing

@testable import LatchkeyHTTP

/// `StreamTable` against the `Dictionary` it replaced, under the id patterns HTTP/2 makes and worse ones.
@Suite struct StreamTableTests {
    private final class Box: Equatable {
        let id: Int32
        init(_ id: Int32) { self.id = id }
        static func == (a: Box, b: Box) -> Bool { a === b }
    }

    private func agree(_ table: StreamTable<Box>, _ reference: [Int32: Box], probing ids: [Int32]) {
        #expect(table.count == reference.count)
        #expect(table.isEmpty == reference.isEmpty)
        for id in ids { #expect(table[id] === reference[id], "id \(id)") }
        #expect(Set(table.map(\.key)) == Set(reference.keys))
        #expect(table.allSatisfy { reference[$0.key] === $0.value })
    }

    @Test(arguments: [
        "sequential odd ids", "ids that all share a home", "random ids", "even and odd mixed",
    ])
    func behavesLikeADictionary(_ pattern: String) {
        var generator = SystemRandomNumberGenerator()
        var table = StreamTable<Box>()
        var reference: [Int32: Box] = [:]
        var next: Int32 = 1
        var used: [Int32] = []
        for step in 0..<6_000 {
            let id: Int32
            switch pattern {
            case "sequential odd ids": id = next; next += 2
            case "ids that all share a home": id = Int32(step % 40) * 2 * 64 + 1  // same slot in a 64-slot table
            case "random ids": id = Int32.random(in: 1...5_000, using: &generator)
            default: id = Int32(step % 300) + 1
            }
            used.append(id)
            if Bool.random(using: &generator) || reference.count < 3 {
                let box = Box(id)
                table[id] = box
                reference[id] = box
            } else if let victim = reference.keys.randomElement(using: &generator) {
                #expect(table.removeValue(forKey: victim) === reference.removeValue(forKey: victim))
                #expect(table.removeValue(forKey: victim) == nil)
            }
            // Keep the window small, as concurrent streams are, except for the random pattern.
            if pattern == "sequential odd ids", reference.count > 50, let oldest = reference.keys.min() {
                table[oldest] = nil
                reference[oldest] = nil
            }
            if step % 500 == 0 { agree(table, reference, probing: Array(used.suffix(200)) + [999_999]) }
        }
        agree(table, reference, probing: used)
        // Stream 0 is the connection: never found, and asking to remove it changes nothing.
        let before = table.count
        #expect(table[0] == nil)
        #expect(table.removeValue(forKey: 0) == nil)
        table[0] = nil
        #expect(table.count == before)
        agree(table, reference, probing: used)
        let copy = table
        table.removeAll()
        #expect(table.isEmpty && table[used[0]] == nil)
        #expect(copy.count == reference.count, "a copy keeps its entries")
    }
}
