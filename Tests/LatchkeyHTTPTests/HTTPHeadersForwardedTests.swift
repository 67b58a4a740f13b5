@testable import LatchkeyHTTP
import Testing

/// `HTTPHeaders.forwarded`: the one pass every forwarded head's rewrite starts with.
@Suite struct HTTPHeadersForwardedTests {
    /// A head as the HTTP/1.1 parser stores it: each field a `Name: value` line in the shared bytes.
    private func parsed(_ text: String) throws -> HTTPHeaders {
        var parser = HTTP1RequestParser()
        let events = try parser.feed(Array(("GET / HTTP/1.1\r\n" + text + "\r\n").utf8))
        guard case .head(let head, _)? = events.first else {
            Issue.record("no head in \(events)")
            return HTTPHeaders()
        }
        return head.headers
    }

    @Test func dropsHopByHopNominatedDroppedAndNamedFieldsAndKeepsTheRestInOrder() throws {
        let headers = try parsed(
            "Host: a.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\nkeep-alive: 5\r\n"
                + "Authorization: Basic eA==\r\nX-Extra: 2\r\nTE: trailers\r\nUser-Agent: t\r\nContent-Length: 0\r\n")
        let kept = headers.forwarded(dropping: [.authorization, .framing], alsoDroppingNames: ["x-extra"], room: .none)
        #expect(kept.fields.map(\.name) == ["Host", "Accept", "User-Agent"])
        #expect(kept.fields.map(\.value) == ["a.example", "*/*", "t"])
        // Known names stay recognised in the new storage.
        #expect(kept.firstIndex(of: .host) == 0)
        #expect(headers.count == 10, "the original is untouched")
    }

    @Test func parsedLinesStayOnePieceAndAddedFieldsFollow() throws {
        let headers = try parsed("Host: a.example\r\nX-Id: 7\r\n")
        var kept = headers.forwarded(room: HTTPHeaders.Room(fields: 2, bytes: 32))
        let capacity = kept.bytes.capacity
        kept.add(name: "Via", value: "1.1 latchkey")
        #expect(kept.bytes.capacity == capacity, "the room was enough: no second allocation")
        #expect(String(decoding: kept.bytes, as: UTF8.self).hasPrefix("Host: a.exampleX-Id: 7"))
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_1, headers: kept)
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(String(decoding: wire, as: UTF8.self)
            == "GET / HTTP/1.1\r\nHost: a.example\r\nX-Id: 7\r\nVia: 1.1 latchkey\r\n\r\n")
    }

    @Test func fieldsBuiltFromStringsAndRewrittenValuesCopyCorrectly() {
        var headers: HTTPHeaders = ["A": "1", "Connection": "close", "B": "2"]
        headers.replaceOrAdd(name: "A", value: "one")  // the value now lies after the other fields
        let kept = headers.forwarded(room: .none)
        #expect(kept == ["A": "one", "B": "2"])
    }

    @Test func theHopByHopSetIsTheNamesHopByHopByDefinition() {
        let named = Set(HTTPHeaders.hopByHopFieldNames.map { KnownFieldName($0).rawValue })
        for name in KnownFieldName.allCases {
            #expect(KnownFieldNames.hopByHop.contains(name) == named.contains(name.rawValue), "\(name)")
        }
        #expect(!named.contains(KnownFieldName.other.rawValue))
        #expect(KnownFieldNames.framing.contains(.contentLength) && KnownFieldNames.framing.contains(.transferEncoding))
    }
}

extension HTTPHeadersForwardedTests {
    @Test func runsOfParsedFieldsAndMovedValuesMixInAnyOrder() throws {
        var headers = try parsed("A: 1\r\nB: 2\r\nConnection: close\r\nHost: h\r\nC: 3\r\nD: 4\r\n")
        headers.remove(name: "host")
        headers.replaceOrAdd(name: "C", value: "three")  // C's value now lies past D
        headers.add(name: "E", value: "5")
        let kept = headers.forwarded(room: HTTPHeaders.Room(fields: 1, bytes: 8))
        #expect(kept == ["A": "1", "B": "2", "C": "three", "D": "4", "E": "5"])
        var again = kept.forwarded(dropping: [], alsoDroppingNames: ["b"], room: .none)
        again.add(name: "Content-Length", decimal: 1_234_567)
        #expect(again == ["A": "1", "C": "three", "D": "4", "E": "5", "Content-Length": "1234567"])
        #expect(again.firstIndex(of: .contentLength) == 4)
        var zero = HTTPHeaders()
        zero.add(name: "Content-Length", decimal: 0)
        zero.add(name: "Content-Length", decimal: Int.max)
        #expect(zero.values(for: "content-length") == ["0", String(Int.max)])
    }
}
