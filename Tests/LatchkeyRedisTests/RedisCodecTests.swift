import Testing

@testable import LatchkeyRedis

@Suite struct RedisCodecTests {
    @Test func commandIsEncodedAsARESPArray() {
        let command = RedisCommand([Array("SET".utf8), Array("k".utf8), [0, 13, 10, 255]])
        #expect(command.bytes == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n".utf8))
        #expect(command.name == "SET")
    }

    @Test func repliesDecodeWhenFedByteByByte() throws {
        let wire = Array("+OK\r\n$-1\r\n:42\r\n$4\r\na\r\nb\r\n*2\r\n$1\r\nx\r\n:1\r\n-NOAUTH Authentication required.\r\n".utf8)
        let reader = RedisReplyReader()
        var replies: [RedisReply] = []
        for byte in wire {
            try reader.feed([byte])
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(replies == [
            .status("OK"), .null, .integer(42), .bulk(Array("a\r\nb".utf8)), .array([.bulk([120]), .integer(1)]),
            .error("NOAUTH Authentication required."),
        ])
    }

    @Test func garbageIsAProtocolError() throws {
        let reader = RedisReplyReader()
        try reader.feed(Array("?what\r\n".utf8))
        #expect(throws: RedisError.self) { _ = try reader.next() }
    }
}
