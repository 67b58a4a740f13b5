import LatchkeyHTTP
import Testing

/// After a request that asks to upgrade (RFC 9110 §7.8) the parser holds what follows until the caller knows
/// the answer: tunnel bytes after a 101, the next requests otherwise.
@Suite struct RequestParserUpgradeTests {
    static let handshake = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    static let next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

    @Test func bytesAfterAnUpgradeRequestAreHeldUnparsed() throws {
        var parser = HTTP1RequestParser()
        let events = try parser.feed(bytes(Self.handshake + "\u{81}\u{05}hello"))
        #expect(events.count == 2)
        #expect(events.last == .end)
        #expect(parser.isAwaitingUpgradeDecision)
        #expect(parser.isAtMessageBoundary)
        // More bytes while waiting are held too, not parsed (they would be a parse error as HTTP).
        #expect(try parser.feed(bytes("\u{00}more")).isEmpty)
    }

    @Test func a101MakesTheHeldBytesTunnelBytes() throws {
        var parser = HTTP1RequestParser()
        _ = try parser.feed(bytes(Self.handshake + "frame"))
        #expect(parser.takeTunnelBytes() == bytes("frame"))
        #expect(!parser.isAwaitingUpgradeDecision)
        #expect(parser.isTunneling)
        #expect(try parser.feed(bytes("GET / HTTP/1.1\r\n")).isEmpty, "after the switch nothing is HTTP")
        #expect(parser.takeTunnelBytes() == bytes("GET / HTTP/1.1\r\n"))
    }

    @Test func aDeclinedUpgradeParsesTheHeldBytesAsTheNextRequests() throws {
        var parser = HTTP1RequestParser()
        // Split at every offset of the pipelined request: the held part is parsed on resume, the rest after.
        let wire = bytes(Self.next)
        for split in 0...wire.count {
            var parser = HTTP1RequestParser()
            _ = try parser.feed(bytes(Self.handshake) + Array(wire[..<split]))
            var events = try parser.resumeAfterDeclinedUpgrade()
            #expect(!parser.isAwaitingUpgradeDecision)
            events += try parser.feed(Array(wire[split...]))
            #expect(events.count == 2, "split at \(split)")
            #expect(events.last == .end)
        }
        _ = try parser.feed(bytes(Self.handshake))
        #expect(try parser.resumeAfterDeclinedUpgrade().isEmpty)
        #expect(try parser.resumeAfterDeclinedUpgrade().isEmpty, "nothing to resume outside a decision")
    }

    @Test func aDeclinedUpgradeStillRefusesGarbage() throws {
        var parser = HTTP1RequestParser()
        _ = try parser.feed(bytes(Self.handshake + "\u{81}\u{05}hello\r\n"))
        #expect(throws: HTTP1ParseError.self) { try parser.resumeAfterDeclinedUpgrade() }
    }

    @Test func requestsWithoutUpgradePipelineAsBefore() throws {
        var parser = HTTP1RequestParser()
        let events = try parser.feed(bytes(Self.next + Self.next))
        #expect(events.count == 4)
        #expect(!parser.isAwaitingUpgradeDecision)
    }

    @Test func aBodyOfAnUpgradeRequestIsReadBeforeTheHold() throws {
        var parser = HTTP1RequestParser()
        let wire = "POST /u HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhiXY"
        let events = try parser.feed(bytes(wire))
        #expect(events.contains(.body(bytes("hi"))))
        #expect(parser.isAwaitingUpgradeDecision)
        #expect(parser.takeTunnelBytes() == bytes("XY"))
    }
}
