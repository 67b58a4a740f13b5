@testable import LatchkeyHTTP
import Testing

/// A connection hands a finished head's header storage back to its parser (`recycle`), and the next head
/// fills that storage instead of allocating; storage shared with anything else, or grown past a usual head,
/// is not reused, and a reused storage never shows the earlier head's fields.
@Suite struct HeaderRecyclingTests {
    static func base(_ headers: HTTPHeaders) -> UnsafeRawPointer? {
        headers.bytes.withUnsafeBytes { $0.baseAddress }
    }

    static func head(_ parser: inout HTTP1RequestParser, _ wire: String) throws -> HTTPRequestHead {
        let events = try parser.feed(Array(wire.utf8))
        guard case .head(let head, _)? = events.first else { throw HTTP1ParseError(.invalidRequestLine, "no head") }
        return head
    }

    @Test func theNextRequestHeadFillsTheRecycledStorage() throws {
        var parser = HTTP1RequestParser()
        var first = try Self.head(&parser, "GET /a HTTP/1.1\r\nHost: a.example\r\nX-First: 1\r\n\r\n")
        let storage = Self.base(first.headers)
        parser.recycle(&first.headers)
        #expect(first.headers.count == 0)
        let second = try Self.head(&parser, "GET /b HTTP/1.1\r\nHost: b.example\r\nX-Second: 2\r\n\r\n")
        #expect(Self.base(second.headers) == storage)
        #expect(second.headers == ["Host": "b.example", "X-Second": "2"])  // nothing of the first head
    }

    @Test func sharedStorageIsNotTakenFromItsOtherOwner() throws {
        var parser = HTTP1RequestParser()
        var first = try Self.head(&parser, "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n")
        let kept = first.headers  // still needed elsewhere: a copy of the same storage
        parser.recycle(&first.headers)
        let second = try Self.head(&parser, "GET /b HTTP/1.1\r\nHost: b.example\r\n\r\n")
        #expect(kept == ["Host": "a.example"])
        #expect(second.headers == ["Host": "b.example"])
        #expect(Self.base(second.headers) != Self.base(kept))
    }

    @Test func storageGrownPastAUsualHeadIsLetGo() throws {
        var parser = HTTP1RequestParser()
        let many = (0..<150).map { "X-Field-\($0): \(String(repeating: "v", count: 40))\r\n" }.joined()
        var big = try Self.head(&parser, "GET /a HTTP/1.1\r\nHost: a.example\r\n\(many)\r\n")
        let bigStorage = Self.base(big.headers)
        parser.recycle(&big.headers)
        let next = try Self.head(&parser, "GET /b HTTP/1.1\r\nHost: b.example\r\n\r\n")
        #expect(Self.base(next.headers) != bigStorage)
        #expect(next.headers == ["Host": "b.example"])
    }

    @Test func theNextResponseHeadFillsTheRecycledStorage() throws {
        var parser = HTTP1ResponseParser()
        func head(_ wire: String) throws -> HTTPResponseHead {
            parser.expectResponse(toMethod: "GET")
            guard case .head(let head, _)? = try parser.feed(Array(wire.utf8)).first else {
                throw HTTP1ParseError(.invalidRequestLine, "no head")
            }
            return head
        }
        var first = try head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: \"1\"\r\n\r\n")
        let storage = Self.base(first.headers)
        parser.recycle(&first.headers)
        let second = try head("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        #expect(Self.base(second.headers) == storage)
        #expect(second.headers == ["Content-Length": "0"])
    }

    /// The upstream head is built into the last one's storage: only the forwarded fields, none of the old.
    @Test func forwardedIntoRecycledStorageHoldsOnlyTheForwardedFields() {
        let client: HTTPHeaders = ["Host": "a.example", "Connection": "keep-alive, X-Hop", "X-Hop": "1", "Accept": "*/*"]
        var old: HTTPHeaders = ["Host": "old.example", "Authorization": "Bearer old", "X-Old": "1"]
        old.reserveCapacity(fields: 16, bytes: 512)
        let storage = Self.base(old)
        let forwarded = client.forwarded(room: HTTPHeaders.Room(fields: 4, bytes: 64), reusing: consume old)
        #expect(forwarded == ["Host": "a.example", "Accept": "*/*"])
        #expect(Self.base(forwarded) == storage)
        #expect(forwarded == client.forwarded(room: HTTPHeaders.Room(fields: 4, bytes: 64)))
    }
}

/// An HTTP/2 session takes back a received head's storage (`HTTP2Session.recycle`) and fills it with the
/// next header block it receives.
@Suite struct HTTP2HeaderRecyclingTests {
    @Test func theNextResponseBlockFillsTheRecycledStorage() throws {
        let pair = try HTTP2Pair()
        func exchange(_ status: Int, _ fields: HTTPHeaders) throws -> HTTPResponseHead {
            let stream = try pair.client.submitRequest(HTTP2SessionTests.getHead(), endStream: true)
            try pair.pump()
            _ = pair.takeServerEvents()
            try pair.server.submitResponse(stream: stream, HTTPResponseHead(status: status, headers: fields), endStream: true)
            try pair.pump()
            for event in pair.takeClientEvents() { if case .response(stream, let head, _) = event { return head } }
            throw HTTP2Error(.internalError, "no response")
        }
        var first = try exchange(200, ["ETag": "\"1\"", "X-First": "1"])
        let storage = HeaderRecyclingTests.base(first.headers)
        pair.client.recycle(&first.headers)
        let second = try exchange(404, ["X-Second": "2"])
        #expect(HeaderRecyclingTests.base(second.headers) == storage)
        #expect(second.headers == ["x-second": "2"])
    }

    /// Heads that overlap (several streams' blocks decoded before any is handed back) each find storage that
    /// was handed back: the session keeps more than one.
    @Test func overlappingHeadsEachReuseHandedBackStorage() throws {
        let pair = try HTTP2Pair()
        func respondToThree() throws -> [HTTPResponseHead] {
            let streams = try (0..<3).map { _ in try pair.client.submitRequest(HTTP2SessionTests.getHead(), endStream: true) }
            try pair.pump()
            _ = pair.takeServerEvents()
            for (index, stream) in streams.enumerated() {
                try pair.server.submitResponse(
                    stream: stream, HTTPResponseHead(status: 200, headers: ["X-Index": "\(index)"]), endStream: true)
            }
            try pair.pump()
            return pair.takeClientEvents().compactMap { if case .response(_, let head, _) = $0 { head } else { nil } }
        }
        var first = try respondToThree()
        let storages = Set(first.map { HeaderRecyclingTests.base($0.headers) })
        #expect(storages.count == 3)
        for index in first.indices { pair.client.recycle(&first[index].headers) }
        let second = try respondToThree()
        #expect(Set(second.map { HeaderRecyclingTests.base($0.headers) }) == storages)
        #expect(second.map { $0.headers.first("X-Index") } == ["0", "1", "2"])
    }
}

/// A client's HTTP/2 request becomes an HTTP/1.1-shaped head built in storage its connection's session
/// keeps (`HTTP2Session.takeSpareHeaders`), filled by storage handed back (`recycle`).
@Suite struct HTTP1ShapedHeadRecyclingTests {
    @Test func theHeadIsBuiltInTheStorageGivenAndEqualsTheOneBuiltFresh() throws {
        let session = try HTTP2Session(role: .server)
        var handedBack: HTTPHeaders = ["X-Old": "1", "Authorization": "Bearer old"]
        handedBack.reserveCapacity(fields: HTTPHeaders.usualFields, bytes: HTTPHeaders.usualBytes)
        let storage = HeaderRecyclingTests.base(handedBack)
        session.recycle(&handedBack)
        let received = HTTP2RequestHead(
            method: "GET", scheme: "https", authority: "api.example", path: "/v1?q=1",
            headers: ["accept": "*/*", "cookie": "a=1", "cookie": "b=2"])
        let head = received.http1Head(reusing: session.takeSpareHeaders())
        #expect(HeaderRecyclingTests.base(head.headers) == storage)
        #expect(head.headers == received.http1Head.headers)
        #expect(head.headers == ["Host": "api.example", "accept": "*/*", "cookie": "a=1; b=2"])
        #expect(head.target == "/v1?q=1")
        // Nothing handed back: new storage.
        #expect(HeaderRecyclingTests.base(received.http1Head(reusing: session.takeSpareHeaders()).headers) != storage)
    }
}

@Suite struct SpareHeaderStoragePoolTests {
    static func usual(_ name: String) -> HTTPHeaders {
        var headers: HTTPHeaders = [name: "1"]
        headers.reserveCapacity(fields: HTTPHeaders.usualFields, bytes: HTTPHeaders.usualBytes)
        return headers
    }

    @Test func keepsUpToItsLimitAndHandsBackEmptyStorage() {
        var pool = SpareHeaderStoragePool(limit: 2)
        var heads = [Self.usual("A"), Self.usual("B"), Self.usual("C")]
        let storages = heads.map { HeaderRecyclingTests.base($0) }
        for index in heads.indices { pool.giveBack(&heads[index]) }
        #expect(pool.count == 2)
        #expect(heads[0].count == 0 && heads[1].count == 0)
        #expect(heads[2] == ["C": "1"])  // not taken: the pool was full
        var taken = [HTTPHeaders(), HTTPHeaders(), HTTPHeaders()]
        for index in taken.indices { pool.provide(to: &taken[index]) }
        #expect(taken.allSatisfy { $0.count == 0 && $0.hasUsualCapacity })
        #expect(Set(taken.prefix(2).map { HeaderRecyclingTests.base($0) }) == Set(storages.prefix(2)))
        #expect(!storages.contains(HeaderRecyclingTests.base(taken[2])))
        #expect(pool.count == 0)
    }

    @Test func storageGrownPastAUsualHeadIsNotKept() {
        var pool = SpareHeaderStoragePool(limit: 4)
        var big = HTTPHeaders()
        big.reserveCapacity(fields: HTTPHeaders.usualFields * 8, bytes: HTTPHeaders.usualBytes * 8)
        pool.giveBack(&big)
        #expect(pool.count == 0)
    }
}
