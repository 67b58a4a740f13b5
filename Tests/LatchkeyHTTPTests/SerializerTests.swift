import LatchkeyHTTP
import Testing

@Suite struct SerializerTests {
    @Test func requestHeadBytesAndRoundTrip() throws {
        let head = HTTPRequestHead(
            method: "PUT", target: "/a?b=c", headers: HTTPHeaders([("Host", "x:8080"), ("X-Dup", "1"), ("x-dup", "2 3")]))
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(wire == bytes("PUT /a?b=c HTTP/1.1\r\nHost: x:8080\r\nX-Dup: 1\r\nx-dup: 2 3\r\n\r\n"))
        var parser = HTTP1RequestParser()
        #expect(try parser.feed(wire) == [.head(head, .none), .end])
    }

    /// Parsed fields are stored with their separator; what goes out again is always `Name: value`, whatever
    /// spacing arrived, and fields the proxy changed or added mix with them.
    @Test func parsedFieldsGoOutCanonicallyWhateverTheirSpacing() throws {
        var parser = HTTP1RequestParser()
        let events = try parser.feed(
            bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Tight:1\r\nX-Loose: \t 2 \t\r\nX-Gone: 3\r\nX-Kept: 4\r\n\r\n"))
        guard case .head(var head, _)? = events.first else {
            Issue.record("no head: \(events)")
            return
        }
        head.headers.remove(name: "X-Gone")
        head.headers.replaceOrAdd(name: "Host", value: "b.example")
        head.headers.add(name: "X-Added", value: "5")
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        #expect(
            String(decoding: wire, as: UTF8.self)
                == "GET / HTTP/1.1\r\nHost: b.example\r\nX-Tight: 1\r\nX-Loose: 2\r\nX-Kept: 4\r\nX-Added: 5\r\n\r\n")
    }

    @Test func aForwardedHeadGoesOutTheSameWhicheverWayItsFieldsAreStored() throws {
        // Parsed lines (kept in runs, one with whitespace after its value), a dropped one between them, prepared
        // fields (stored with their line ends), a decimal Content-Length and a field added from strings: the
        // serializer writes runs of stored lines in one piece and the rest field by field, to the same bytes.
        var parser = HTTP1RequestParser()
        let events = try parser.feed(
            bytes("POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nConnection: x-b\r\nX-B: 2\r\nX-C: 3 \r\nX-D: 4\r\n"
                + "Content-Length: 0\r\n\r\n"))
        guard case .head(let parsed, _)? = events.first else {
            Issue.record("no head: \(events)")
            return
        }
        var headers = parsed.headers.forwarded(dropping: .framing, room: .none)
        headers.replaceOrAdd(HTTPHeaders.PreparedField(name: "Authorization", value: "Bearer t"))
        headers.add(HTTPHeaders.PreparedField(name: "Via", value: "1.1 latchkey"))
        headers.setFraming(.contentLength(12))
        headers.add(name: "X-E", value: "5")
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "POST", target: "/", headers: headers), to: &wire)
        #expect(
            String(decoding: wire, as: UTF8.self)
                == "POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-C: 3\r\nX-D: 4\r\nAuthorization: Bearer t\r\n"
                + "Via: 1.1 latchkey\r\nContent-Length: 12\r\nX-E: 5\r\n\r\n")
        #expect(headers.fields.map(\.value) == ["a", "1", "3", "4", "Bearer t", "1.1 latchkey", "12", "5"])
    }

    @Test func responseHeadBytesAndRoundTrip() throws {
        let head = HTTPResponseHead(version: .http1_0, status: 404, reason: "Not Found", headers: ["Content-Length": "0"])
        var wire: [UInt8] = []
        HTTP1Serializer.appendResponseHead(head, to: &wire)
        #expect(wire == bytes("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        var parser = HTTP1ResponseParser()
        parser.expectResponse(toMethod: "GET")
        #expect(try parser.feed(wire) == [.head(head, .contentLength(0)), .end])
        var empty: [UInt8] = []
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: 204), to: &empty)
        #expect(empty == bytes("HTTP/1.1 204 \r\n\r\n"))
    }

    @Test func chunksRoundTripThroughTheParser() throws {
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: HTTPHeaders([("Host", "a"), ("Transfer-Encoding", "chunked")]))
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        let payloads: [[UInt8]] = [bytes("hello"), [], Array(repeating: 0x00, count: 300), bytes("\r\n0\r\n\r\n")]
        for payload in payloads { HTTP1Serializer.appendChunk(payload, to: &wire) }
        HTTP1Serializer.appendLastChunk(to: &wire)
        #expect(wire.suffix(5) == bytes("0\r\n\r\n")[...])
        #expect(String(decoding: wire, as: UTF8.self).contains("\r\n12c\r\n"))
        for pieces in [[wire], wire.map { [$0] }] {
            #expect(parseRequest(pieces) == .success([.head(head, .chunked), .body(payloads.flatMap { $0 }), .end]))
        }
    }

    @Test func lastChunkCarriesTrailersThroughTheParser() throws {
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: HTTPHeaders([("Host", "a"), ("Transfer-Encoding", "chunked")]))
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &wire)
        HTTP1Serializer.appendChunk(bytes("abc"), to: &wire)
        let trailers: HTTPHeaders = ["Grpc-Status": "0", "X-Checksum": "a1"]
        HTTP1Serializer.appendLastChunk(trailers: trailers, to: &wire)
        #expect(wire.suffix(37) == bytes("0\r\nGrpc-Status: 0\r\nX-Checksum: a1\r\n\r\n")[...])
        for pieces in [[wire], wire.map { [$0] }] {
            #expect(
                parseRequest(pieces) == .success([.head(head, .chunked), .body(bytes("abc")), .trailers(trailers), .end]))
        }
        var empty: [UInt8] = []
        HTTP1Serializer.appendLastChunk(trailers: HTTPHeaders(), to: &empty)
        #expect(empty == bytes("0\r\n\r\n"))
    }

    @Test func emptyChunkWritesNothing() {
        var wire: [UInt8] = [1]
        HTTP1Serializer.appendChunk([UInt8](), to: &wire)
        HTTP1Serializer.appendChunk(bytes("ab")[2...], to: &wire)
        #expect(wire == [1])
        HTTP1Serializer.appendChunk(bytes("abcdefghijklmnopq")[...], to: &wire)
        #expect(wire == [1] + bytes("11\r\nabcdefghijklmnopq\r\n"))
    }
}

@Suite struct HTTPFieldTests {
    @Test func names() {
        #expect(HTTPField.isValidName("X-Custom_Header.1~!"))
        #expect(!HTTPField.isValidName(""))
        #expect(!HTTPField.isValidName("X Y"))
        #expect(!HTTPField.isValidName("X:"))
        #expect(!HTTPField.isValidName("X\r\nY"))
        #expect(!HTTPField.isValidName("caf\u{E9}"))
    }

    @Test func values() {
        #expect(HTTPField.isValidValue("Bearer abc.def"))
        #expect(HTTPField.isValidValue(""))
        #expect(HTTPField.isValidValue("a\tb caf\u{E9}"))
        #expect(!HTTPField.isValidValue("abc\r\nX-Injected: 1"))
        #expect(!HTTPField.isValidValue("abc\n"))
        #expect(!HTTPField.isValidValue("a\u{0}b"))
        #expect(!HTTPField.isValidValue("a\u{7F}"))
        #expect(!HTTPField.isValidValue(" leading"))
        #expect(!HTTPField.isValidValue("trailing\t"))
    }
}
