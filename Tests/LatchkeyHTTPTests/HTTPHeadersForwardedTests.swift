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
        // The parser stores the lines as they came, line ends and all; the kept run is copied as one piece.
        #expect(String(decoding: kept.bytes, as: UTF8.self).hasPrefix("Host: a.example\r\nX-Id: 7"))
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_1, headers: kept)
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(String(decoding: wire, as: UTF8.self)
            == "GET / HTTP/1.1\r\nHost: a.example\r\nX-Id: 7\r\nVia: 1.1 latchkey\r\n\r\n")
    }

    @Test func aSectionReadWholeIsStoredAsItsLinesAndGoesOutTrimmed() throws {
        // One read: the lines are copied once, as they came, whitespace after values and line ends included.
        let headers = try parsed("Host: h \r\nA: 1  \r\nB:\t2\t\r\nC: 3\r\n")
        #expect(String(decoding: headers.bytes, as: UTF8.self) == "Host: h \r\nA: 1  \r\nB:\t2\t\r\nC: 3\r\n")
        #expect(headers.fields.map(\.value) == ["h", "1", "2", "3"])
        let kept = headers.forwarded(room: .none)
        // One run, line ends and all: the fields are a line end and some whitespace apart, and the last
        // one's line end comes along so that the serializer can write the run in one piece.
        #expect(kept.bytes == headers.bytes)
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_1, headers: kept)
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(String(decoding: wire, as: UTF8.self) == "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    }

    @Test func aRunOfKeptFieldsNeverTakesADroppedFieldsBytesAlong() throws {
        // Fed a byte at a time, the parser stores each line up to its value's end, back to back: a dropped
        // field as short as a line end then lies between two kept ones.
        var parser = HTTP1RequestParser()
        var events: [HTTP1RequestEvent] = []
        for byte in Array("GET / HTTP/1.1\r\nHost: a\r\nTE:x\r\nX: 1\r\n\r\n".utf8) { events += try parser.feed([byte]) }
        guard case .head(let head, _)? = events.first else {
            Issue.record("no head in \(events)")
            return
        }
        let kept = head.headers.forwarded(room: .none)
        #expect(kept.fields.map(\.name) == ["Host", "X"])
        #expect(!String(decoding: kept.bytes, as: UTF8.self).contains("TE"))
    }

    @Test func aSectionSplitAcrossReadsIsStoredInOrderFromBothPaths() throws {
        // The whole lines of each read are stored where they lie; the line cut by the read's end is buffered
        // and stored alone. The fields come out the same either way.
        var parser = HTTP1RequestParser()
        #expect(try parser.feed(Array("GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Tw".utf8)) == [])
        let events = try parser.feed(Array("o: 2\r\nX-Three: 3\r\n\r\n".utf8))
        guard case .head(let head, _)? = events.first else {
            Issue.record("no head in \(events)")
            return
        }
        #expect(head.headers.fields.map(\.name) == ["Host", "X-One", "X-Two", "X-Three"])
        #expect(head.headers.fields.map(\.value) == ["a", "1", "2", "3"])
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(String(decoding: wire, as: UTF8.self) == "GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\n\r\n")
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
        again.add(name: "Content-Length", known: .contentLength, decimal: 1_234_567)
        #expect(again == ["A": "1", "C": "three", "D": "4", "E": "5", "Content-Length": "1234567"])
        #expect(again.firstIndex(of: .contentLength) == 4)
        var zero = HTTPHeaders()
        zero.add(name: "Content-Length", known: .contentLength, decimal: 0)
        zero.add(name: "Content-Length", known: .contentLength, decimal: Int.max)
        #expect(zero.values(for: "content-length") == ["0", String(Int.max)])
    }
}

extension HTTPHeadersForwardedTests {
    @Test func forEachForwardedFieldVisitsWhatForwardedKeeps() throws {
        let headers = try parsed(
            "Host: a\r\nConnection: X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\nAuthorization: x\r\nTE: trailers\r\nB: 2\r\n")
        var visited: [HTTPHeaders.Field] = []
        headers.forEachForwardedField(dropping: [.authorization], alsoDroppingNames: ["b"]) { name, value in
            visited.append(.init(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
        }
        #expect(visited == headers.forwarded(dropping: [.authorization], alsoDroppingNames: ["b"], room: .none).fields)
        #expect(visited.map(\.name) == ["Host", "Accept"])
    }
}

extension HTTPHeadersForwardedTests {
    /// The in-place form keeps exactly what `forwarded` keeps, for parsed heads and rewritten ones.
    @Test(arguments: [
        "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\nAuthorization: x\r\nTE: trailers\r\n",
        "Server: nginx\r\nDate: today\r\nContent-Type: text/plain\r\nContent-Length: 64\r\nConnection: keep-alive\r\n",
        "Proxy-Authenticate: Basic\r\nTransfer-Encoding: chunked\r\nKeep-Alive: 5\r\nUpgrade: h2c\r\nX: 1\r\n",
        "A: 1\r\nB: 2\r\n",
        "Connection: close\r\n",
        "",
    ])
    func removingInPlaceKeepsWhatForwardedKeeps(text: String) throws {
        let dropping: KnownFieldNames = [.proxyAuthenticate, .proxyAuthenticationInfo, .authorization, .framing]
        let headers = try parsed("Host: h\r\n" + text)  // a request head (the parser wants Host)
        var inPlace = headers  // shares the storage: the original must not change
        inPlace.removeFieldsNotForwarded(dropping: dropping)
        #expect(inPlace.fields == headers.forwarded(dropping: dropping, room: .none).fields)
        #expect(try parsed("Host: h\r\n" + text).fields == headers.fields, "the original is untouched")
        for index in inPlace.indices {  // known names survive the move
            #expect(inPlace.spans[index].known == KnownFieldName(inPlace.name(at: index)))
        }
        // What a rewrite adds next follows the kept fields on the wire.
        inPlace.add(name: "Via", value: "1.1 latchkey")
        #expect(inPlace.fields.last == HTTPHeaders.Field(name: "Via", value: "1.1 latchkey"))
    }

    @Test func removingInPlaceFromAHeadNobodyElseHoldsAllocatesNothing() throws {
        var headers = try parsed("Host: h\r\nContent-Length: 64\r\nConnection: keep-alive\r\nX-A: 1\r\n")
        let bytes = headers.bytes.withUnsafeBufferPointer { $0.baseAddress }
        headers.removeFieldsNotForwarded(dropping: .framing)
        headers.add(name: "Content-Length", known: .contentLength, decimal: 64)
        headers.add(name: "Via", value: "1.1 latchkey")
        #expect(headers.bytes.withUnsafeBufferPointer { $0.baseAddress } == bytes, "the parser's storage, written in place")
        #expect(headers == ["Host": "h", "X-A": "1", "Content-Length": "64", "Via": "1.1 latchkey"])
    }
}

/// `HTTP2FieldList`: the header blocks the sessions hand to nghttp2.
@Suite struct HTTP2FieldListTests {
    /// The block as (name, value) strings, in order.
    private func pairs(_ list: inout HTTP2FieldList) -> [String] {
        list.withNameValues { nameValues, count in
            (0..<count).map { index in
                let field = nameValues![index]
                return String(decoding: UnsafeBufferPointer(start: field.name, count: field.namelen), as: UTF8.self) + ": "
                    + String(decoding: UnsafeBufferPointer(start: field.value, count: field.valuelen), as: UTF8.self)
            }
        }
    }

    private static let heads: [HTTPRequestHead] = [
        HTTPRequestHead(
            method: "GET", target: "/a?b=c", version: .http1_1,
            headers: ["Host": "up.example", "Authorization": "Bearer t", "Accept": "*/*"]),
        HTTPRequestHead(
            method: "POST", target: "/rpc", version: .http1_1,
            headers: [
                "Host": "up.example", "Connection": "TE, X-Hop", "TE": "trailers", "X-Hop": "1",
                "Transfer-Encoding": "chunked", "Content-Type": "application/grpc", "Keep-Alive": "5",
            ]),
        HTTPRequestHead(
            method: "GET", target: "/", version: .http1_1,
            headers: ["HOST": "x", "Upgrade": "h2c", "Proxy-Connection": "keep-alive", "X-Mixed-Case": "V"]),
        HTTPRequestHead(method: "CONNECT", target: "up.example:443", version: .http1_1, headers: ["Host": "up.example:443"]),
    ]

    @Test(arguments: heads)
    func translatingAnHTTP11HeadGivesTheBlockOfItsHTTP2Head(_ head: HTTPRequestHead) {
        var direct = HTTP2FieldList.request(translating: head, scheme: "https", authority: "up.example")
        var viaHead = HTTP2FieldList.request(HTTP2RequestHead(head, scheme: "https", authority: "up.example"))
        #expect(pairs(&direct) == pairs(&viaHead))
    }

    @Test func translationDropsConnectionSpecificFieldsKeepsTETrailersAndLowercases() {
        var list = HTTP2FieldList.request(translating: Self.heads[1], scheme: "https", authority: "up.example")
        #expect(
            pairs(&list) == [
                ":method: POST", ":scheme: https", ":authority: up.example", ":path: /rpc",
                "content-type: application/grpc", "te: trailers",
            ])
        var plain = HTTP2FieldList.request(translating: Self.heads[2], scheme: "http", authority: "x")
        #expect(pairs(&plain) == [":method: GET", ":scheme: http", ":authority: x", ":path: /", "x-mixed-case: V"])
        var connect = HTTP2FieldList.request(translating: Self.heads[3], scheme: "https", authority: "up.example:443")
        #expect(pairs(&connect) == [":method: CONNECT", ":authority: up.example:443"])
    }

    @Test func aResponseBlockHasItsStatusAsThreeDigitsAndNoConnectionSpecificField() {
        for status in [100, 204, 404, 999] {
            var list = HTTP2FieldList.response(
                HTTPResponseHead(
                    version: .http2, status: status, reason: "",
                    headers: ["Connection": "close", "Content-Length": "3", "TE": "trailers"]))
            #expect(pairs(&list) == [":status: \(status)", "content-length: 3"])
        }
    }

    @Test func oneListReusedForHeadAfterHeadGivesEachItsOwnBlock() {
        // A session's list: a large head (its buffers grow, then shrink back), then small ones of both kinds.
        var large = HTTPHeaders()
        for index in 0..<300 { large.add(name: "X-Big-\(index)", value: String(repeating: "b", count: 40)) }
        let heads = [
            HTTPRequestHead(method: "GET", target: "/large", version: .http1_1, headers: large),
            Self.heads[1], Self.heads[0], Self.heads[3],
        ]
        var reused = HTTP2FieldList(capacity: HTTP2FieldList.initialBytes, fields: HTTP2FieldList.initialFields)
        for head in heads {
            reused.setRequest(translating: head, scheme: "https", authority: "up.example")
            var fresh = HTTP2FieldList.request(translating: head, scheme: "https", authority: "up.example")
            #expect(pairs(&reused) == pairs(&fresh))
            let response = HTTPResponseHead(
                version: .http2, status: 200, reason: "", headers: ["Content-Length": "3", "Connection": "close"])
            reused.setResponse(response)
            #expect(pairs(&reused) == [":status: 200", "content-length: 3"])
        }
    }

    @Test func aBlockLargerThanItsFirstBuffersGrowsIntact() {
        var headers = HTTPHeaders()
        for index in 0..<200 { headers.add(name: "X-Field-\(index)", value: String(repeating: "v", count: index)) }
        var list = HTTP2FieldList.trailers(headers)  // sized for the bytes; the pseudo field below overflows it
        list.add(pseudo: ":grown", String(repeating: "g", count: 5000))
        let block = pairs(&list)
        #expect(block.count == 201)
        #expect(block[0] == "x-field-0: ")
        #expect(block[199] == "x-field-199: " + String(repeating: "v", count: 199))
        #expect(block[200] == ":grown: " + String(repeating: "g", count: 5000))
        var small = HTTP2FieldList(capacity: 0, fields: 0)
        for index in 0..<20 { small.add(pseudo: ":p", "\(index)") }
        #expect(pairs(&small) == (0..<20).map { ":p: \($0)" })
    }
}
