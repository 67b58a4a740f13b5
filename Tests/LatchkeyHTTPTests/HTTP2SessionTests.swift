import LatchkeyHTTP
import Testing

/// A client and a server session joined in memory: `pump` carries the bytes each sends to the other until
/// both are quiet, collecting each side's events.
final class HTTP2Pair {
    let client: HTTP2Session
    let server: HTTP2Session
    var clientEvents: [HTTP2Event] = []
    var serverEvents: [HTTP2Event] = []

    init(client clientSettings: HTTP2Settings = HTTP2Settings(), server serverSettings: HTTP2Settings = HTTP2Settings()) throws {
        client = try HTTP2Session(role: .client, settings: clientSettings)
        server = try HTTP2Session(role: .server, settings: serverSettings)
    }

    func pump() throws {
        for _ in 0..<100 {
            var toServer: [UInt8] = []
            try client.send(into: &toServer, events: &clientEvents)
            if !toServer.isEmpty { try server.receive(toServer, into: &serverEvents) }
            var toClient: [UInt8] = []
            try server.send(into: &toClient, events: &serverEvents)
            if !toClient.isEmpty { try client.receive(toClient, into: &clientEvents) }
            if toServer.isEmpty, toClient.isEmpty { return }
        }
        Issue.record("the sessions never went quiet")
    }

    /// Data received per stream, concatenated.
    static func body(_ events: [HTTP2Event], stream: Int32) -> [UInt8] {
        events.reduce(into: []) { body, event in
            if case .data(stream, let bytes) = event { body += bytes }
        }
    }

    func takeServerEvents() -> [HTTP2Event] {
        defer { serverEvents = [] }
        return serverEvents
    }

    func takeClientEvents() -> [HTTP2Event] {
        defer { clientEvents = [] }
        return clientEvents
    }
}

@Suite struct HTTP2SessionTests {
    static func getHead(path: String = "/v1/items?x=1", headers: HTTPHeaders = ["Accept": "application/json"]) -> HTTP2RequestHead {
        HTTP2RequestHead(method: "GET", scheme: "https", authority: "api.example:8443", path: path, headers: headers)
    }

    @Test func aRequestAndItsResponseTravelWithBodyAndTrailers() throws {
        let pair = try HTTP2Pair()
        let stream = try pair.client.submitRequest(
            HTTP2RequestHead(
                method: "POST", scheme: "https", authority: "api.example", path: "/upload",
                headers: ["Content-Type": "text/plain", "X-Trace": "abc"]),
            endStream: false)
        pair.client.sendData(stream: stream, Array("hello ".utf8))
        pair.client.sendData(stream: stream, Array("world".utf8))
        pair.client.endStream(stream: stream)
        try pair.pump()

        let requestEvents = pair.takeServerEvents().filter { if case .remoteSettings = $0 { false } else { true } }
        guard case .request(stream, let head, endStream: false)? = requestEvents.first else {
            Issue.record("no request head first: \(requestEvents)")
            return
        }
        #expect(head.method == "POST")
        #expect(head.scheme == "https")
        #expect(head.authority == "api.example")
        #expect(head.path == "/upload")
        // Names travel lowercased (RFC 9113 §8.2.1).
        #expect(head.headers.fields.map(\.name) == ["content-type", "x-trace"])
        #expect(HTTP2Pair.body(requestEvents, stream: stream) == Array("hello world".utf8))
        #expect(requestEvents.last == .end(stream: stream))
        pair.server.consume(stream: stream, count: 11)
        let sendingEvents = pair.takeClientEvents()
        #expect(sendingEvents.contains(.dataDrained(stream: stream)))

        try pair.server.submitResponse(
            stream: stream, HTTPResponseHead(status: 200, headers: ["Content-Type": "application/grpc"]), endStream: false)
        pair.server.sendData(stream: stream, [0, 0, 0, 0, 2, 8, 1])
        pair.server.endStream(stream: stream, trailers: ["grpc-status": "0", "grpc-message": "OK"])
        try pair.pump()

        let responseEvents = pair.takeClientEvents()
        guard case .response(stream, let response, endStream: false)? = responseEvents.first else {
            Issue.record("no response head first: \(responseEvents)")
            return
        }
        #expect(response.status == 200)
        #expect(response.version == .http2)
        #expect(response.headers.first("content-type") == "application/grpc")
        #expect(HTTP2Pair.body(responseEvents, stream: stream) == [0, 0, 0, 0, 2, 8, 1])
        #expect(responseEvents.contains(.trailers(stream: stream, ["grpc-status": "0", "grpc-message": "OK"])))
        #expect(responseEvents.last == .streamClosed(stream: stream, .noError))
        #expect(pair.takeServerEvents().contains(.streamClosed(stream: stream, .noError)))
        #expect(pair.client.activeStreamCount == 0)
        #expect(pair.server.activeStreamCount == 0)
    }

    @Test func aRequestWithoutBodyEndsWithItsHead() throws {
        let pair = try HTTP2Pair()
        let stream = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        let events = pair.takeServerEvents()
        #expect(events.contains { if case .request(stream, _, endStream: true) = $0 { true } else { false } })
        try pair.server.submitResponse(stream: stream, HTTPResponseHead(status: 204), endStream: true)
        try pair.pump()
        let clientEvents = pair.takeClientEvents()
        #expect(clientEvents.contains { if case .response(stream, let head, endStream: true) = $0 { head.status == 204 } else { false } })
        // HTTP/2 has no reason phrase; the head carries RFC 9110's, for an HTTP/1.1 status line made from it.
        #expect(clientEvents.contains { if case .response(_, let head, _) = $0 { head.reason == "No Content" } else { false } })
    }

    /// Twenty streams' heads decoded in one read (each block's fields gathered, then moved into storage that
    /// earlier heads handed back), twice over: every head keeps its own fields, in order, whatever storage it
    /// was built in.
    @Test func headsDecodedTogetherInRecycledStorageKeepTheirOwnFields() throws {
        let pair = try HTTP2Pair()
        for round in 0..<2 {
            var streams: [Int32] = []
            for index in 0..<20 {
                streams.append(
                    try pair.client.submitRequest(
                        Self.getHead(
                            path: "/item/\(round)/\(index)",
                            headers: ["X-Index": "\(index)", "X-Padding": String(repeating: "p", count: index * 37)]),
                        endStream: true))
            }
            try pair.pump()
            for case .request(let stream, var head, _) in pair.takeServerEvents() {
                let index = try #require(streams.firstIndex(of: stream))
                #expect(head.path == "/item/\(round)/\(index)")
                #expect(head.headers.fields.map(\.name) == ["x-index", "x-padding"])
                #expect(head.headers.first("X-Index") == "\(index)")
                #expect(head.headers.first("X-Padding") == String(repeating: "p", count: index * 37))
                try pair.server.submitResponse(
                    stream: stream, HTTPResponseHead(status: 200, headers: ["X-Answer": "\(index)"]), endStream: true)
                pair.server.recycle(&head.headers)
            }
            try pair.pump()
            var answered = 0
            for case .response(let stream, var head, _) in pair.takeClientEvents() {
                let index = try #require(streams.firstIndex(of: stream))
                #expect(head.headers.fields.map(\.name) == ["x-answer"])
                #expect(head.headers.first("X-Answer") == "\(index)")
                pair.client.recycle(&head.headers)
                answered += 1
            }
            #expect(answered == 20)
        }
    }

    /// A block larger than the gathering buffer keeps between heads, and a small one after it.
    @Test func aLargeHeadAndASmallOneAfterItArriveWhole() throws {
        let pair = try HTTP2Pair()
        let large = String(repeating: "v", count: 24 * 1024)
        let first = try pair.client.submitRequest(Self.getHead(headers: ["X-Large": large, "X-After": "1"]), endStream: true)
        let second = try pair.client.submitRequest(Self.getHead(headers: ["X-Small": "2"]), endStream: true)
        try pair.pump()
        let heads = pair.takeServerEvents().compactMap { event -> (Int32, HTTPHeaders)? in
            if case .request(let stream, let head, _) = event { (stream, head.headers) } else { nil }
        }
        #expect(heads.map(\.0) == [first, second])
        #expect(heads.first?.1.first("X-Large") == large)
        #expect(heads.first?.1.first("X-After") == "1")
        #expect(heads.last?.1.fields.map(\.name) == ["x-small"])
        #expect(heads.last?.1.first("X-Small") == "2")
    }

    @Test func interimResponsesComeBeforeTheFinalOne() throws {
        let pair = try HTTP2Pair()
        let stream = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        try pair.server.submitInterimResponse(stream: stream, HTTPResponseHead(status: 103, headers: ["Link": "</a.css>; rel=preload"]))
        try pair.server.submitResponse(stream: stream, HTTPResponseHead(status: 200), endStream: true)
        try pair.pump()
        let statuses: [String] = pair.takeClientEvents().compactMap { event in
            switch event {
            case .interimResponse(_, let head): "interim \(head.status)"
            case .response(_, let head, _): "final \(head.status)"
            default: nil
            }
        }
        #expect(statuses == ["interim 103", "final 200"])
    }

    @Test func settingsAreAnnouncedToThePeer() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.maxConcurrentStreams = 7
        serverSettings.enableConnectProtocol = true
        let pair = try HTTP2Pair(server: serverSettings)
        _ = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        #expect(pair.client.remoteMaxConcurrentStreams == 7)
        #expect(pair.takeClientEvents().contains(.remoteSettings(maxConcurrentStreams: 7, enableConnectProtocol: true)))
    }

    /// Manual flow control: what the server does not consume stays in the client's queue past the window.
    @Test func unconsumedDataHoldsTheSenderAtTheWindow() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.initialWindowSize = 65_535
        serverSettings.connectionWindowSize = 65_535
        let pair = try HTTP2Pair(server: serverSettings)
        let stream = try pair.client.submitRequest(
            HTTP2RequestHead(method: "POST", scheme: "http", authority: "a", path: "/"), endStream: false)
        let body = [UInt8](repeating: 0x61, count: 200_000)
        pair.client.sendData(stream: stream, body)
        pair.client.endStream(stream: stream)
        try pair.pump()
        let first = HTTP2Pair.body(pair.takeServerEvents(), stream: stream)
        #expect(first.count == 65_535)
        #expect(pair.client.pendingDataBytes(stream: stream) == 200_000 - 65_535)
        #expect(!pair.clientEvents.contains(.dataDrained(stream: stream)))

        var received = first.count
        for _ in 0..<10 where received < body.count {
            pair.server.consume(stream: stream, count: 65_535)
            try pair.pump()
            received += HTTP2Pair.body(pair.takeServerEvents(), stream: stream).count
        }
        #expect(received == body.count)
        #expect(pair.client.pendingDataBytes(stream: stream) == 0)
        #expect(pair.takeClientEvents().contains(.dataDrained(stream: stream)))
    }

    /// DATA that arrives for a stream the server already reset never becomes an event, so nobody consumes
    /// it: the connection window must not shrink for good because of it.
    @Test func dataForAResetStreamDoesNotStallTheConnection() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.initialWindowSize = 65_535
        serverSettings.connectionWindowSize = 65_535
        let pair = try HTTP2Pair(server: serverSettings)
        try pair.pump()
        let post = HTTP2RequestHead(method: "POST", scheme: "http", authority: "a", path: "/")
        let first = try pair.client.submitRequest(post, endStream: false)
        var toServer: [UInt8] = []
        try pair.client.send(into: &toServer, events: &pair.clientEvents)
        try pair.server.receive(toServer, into: &pair.serverEvents)
        // The server resets the stream while the client's DATA is already on its way.
        pair.server.resetStream(stream: first, code: .refusedStream)
        var toClient: [UInt8] = []
        try pair.server.send(into: &toClient, events: &pair.serverEvents)
        pair.client.sendData(stream: first, [UInt8](repeating: 1, count: 40_000))
        toServer = []
        try pair.client.send(into: &toServer, events: &pair.clientEvents)
        try pair.server.receive(toServer, into: &pair.serverEvents)
        try pair.client.receive(toClient, into: &pair.clientEvents)
        #expect(HTTP2Pair.body(pair.takeServerEvents(), stream: first).isEmpty)

        let second = try pair.client.submitRequest(post, endStream: false)
        pair.client.sendData(stream: second, [UInt8](repeating: 2, count: 60_000))
        pair.client.endStream(stream: second)
        try pair.pump()
        var received = HTTP2Pair.body(pair.takeServerEvents(), stream: second).count
        pair.server.consume(stream: second, count: received)
        // Had the reset stream's 40,000 bytes stayed counted against the connection, at most 25,535 could come.
        #expect(received > 65_535 - 40_000)
        for _ in 0..<10 where received < 60_000 {
            try pair.pump()
            let chunk = HTTP2Pair.body(pair.takeServerEvents(), stream: second).count
            pair.server.consume(stream: second, count: chunk)
            received += chunk
        }
        #expect(received == 60_000)
    }

    @Test func anOversizedHeaderListResetsOnlyItsStream() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.maxHeaderListSize = 1024
        let pair = try HTTP2Pair(server: serverSettings)
        let big = try pair.client.submitRequest(
            Self.getHead(headers: ["X-Big": String(repeating: "b", count: 2000)]), endStream: true)
        let small = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        let serverEvents = pair.takeServerEvents()
        #expect(serverEvents.contains(.headersTooLarge(stream: big)))
        #expect(!serverEvents.contains { if case .request(big, _, _) = $0 { true } else { false } })
        #expect(serverEvents.contains { if case .request(small, _, _) = $0 { true } else { false } })
        #expect(pair.takeClientEvents().contains { if case .streamClosed(big, let code) = $0 { code != .noError } else { false } })
        #expect(pair.server.isActive)
    }

    @Test func connectionSpecificFieldsResetTheStream() throws {
        let pair = try HTTP2Pair()
        // The client session sends what it is given; the server must refuse it (RFC 9113 §8.2.2).
        let stream = try pair.client.submitRequest(Self.getHead(headers: ["Connection": "close"]), endStream: true)
        try pair.pump()
        #expect(!pair.takeServerEvents().contains { if case .request = $0 { true } else { false } })
        #expect(pair.takeClientEvents().contains(.streamClosed(stream: stream, .protocolError)))
        #expect(pair.server.isActive)
    }

    @Test func aClientWithoutThePrefaceIsAProtocolError() throws {
        let server = try HTTP2Session(role: .server)
        var events: [HTTP2Event] = []
        #expect(throws: HTTP2Error.self) {
            try server.receive(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8), into: &events)
        }
    }

    @Test func garbageFramesEndTheConnectionWithGoAway() throws {
        let pair = try HTTP2Pair()
        try pair.pump()
        // A DATA frame on stream 0 is a connection error (RFC 9113 §6.1).
        var frame: [UInt8] = [0, 0, 4, 0x0, 0x0, 0, 0, 0, 0, 1, 2, 3, 4]
        var events: [HTTP2Event] = []
        do {
            try pair.server.receive(frame, into: &events)
        } catch {
            // Either way the connection ends with a GOAWAY saying PROTOCOL_ERROR.
        }
        var output: [UInt8] = []
        try pair.server.send(into: &output, events: &events)
        #expect(pair.server.sentGoAway == .protocolError)
        #expect(!pair.server.isActive)
        frame = output
        try pair.client.receive(frame, into: &pair.clientEvents)
        #expect(pair.clientEvents.contains { if case .goAway(_, .protocolError, _) = $0 { true } else { false } })
    }

    @Test func aGracefulGoAwayNamesTheLastStream() throws {
        let pair = try HTTP2Pair()
        let stream = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        pair.server.goAway(code: .noError)
        try pair.pump()
        #expect(pair.takeClientEvents().contains(.goAway(lastStreamID: stream, .noError, debug: "")))
    }

    /// CVE-2023-44487: streams opened and reset in a burst end the connection.
    @Test func rapidResetsEndTheConnection() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.resetBurst = 10
        serverSettings.resetRatePerSecond = 1
        let pair = try HTTP2Pair(server: serverSettings)
        try pair.pump()
        // Each stream's HEADERS reaches the server before its RST_STREAM (a stream reset before it was sent
        // would never leave the client).
        for _ in 0..<50 {
            let stream = try pair.client.submitRequest(Self.getHead(), endStream: true)
            var bytes: [UInt8] = []
            try pair.client.send(into: &bytes, events: &pair.clientEvents)
            pair.client.resetStream(stream: stream, code: .cancel)
            try pair.client.send(into: &bytes, events: &pair.clientEvents)
            try? pair.server.receive(bytes, into: &pair.serverEvents)
        }
        try? pair.pump()
        #expect(pair.server.sentGoAway == .enhanceYourCalm)
        #expect(pair.clientEvents.contains { if case .goAway(_, .enhanceYourCalm, _) = $0 { true } else { false } })
    }

    /// CVE-2025-8671 ("MadeYouReset"): a client that makes the server reset its streams (here more DATA than
    /// its content-length, a stream error nghttp2 answers with RST_STREAM PROTOCOL_ERROR) spends the same
    /// allowance as one that resets them itself.
    @Test func resetsAClientProvokesEndTheConnectionToo() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.resetBurst = 10
        serverSettings.resetRatePerSecond = 1
        let pair = try HTTP2Pair(server: serverSettings)
        try pair.pump()
        for _ in 0..<50 {
            let stream = try pair.client.submitRequest(
                HTTP2RequestHead(method: "POST", scheme: "https", authority: "api.example", path: "/", headers: ["content-length": "1"]),
                endStream: false)
            pair.client.sendData(stream: stream, Array("two".utf8))
            var bytes: [UInt8] = []
            try pair.client.send(into: &bytes, events: &pair.clientEvents)
            try? pair.server.receive(bytes, into: &pair.serverEvents)
            var toClient: [UInt8] = []
            try? pair.server.send(into: &toClient, events: &pair.serverEvents)
            try? pair.client.receive(toClient, into: &pair.clientEvents)
        }
        #expect(pair.server.sentGoAway == .enhanceYourCalm)
        #expect(pair.clientEvents.contains { if case .goAway(_, .enhanceYourCalm, _) = $0 { true } else { false } })
    }

    /// The proxy's own resets blame nobody: a burst of CANCELs and NO_ERRORs leaves the connection up.
    @Test func resetsTheServerChoosesDoNotSpendTheAllowance() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.resetBurst = 5
        serverSettings.resetRatePerSecond = 1
        let pair = try HTTP2Pair(server: serverSettings)
        for index in 0..<20 {
            let stream = try pair.client.submitRequest(Self.getHead(), endStream: false)
            try pair.pump()
            pair.server.resetStream(stream: stream, code: index % 2 == 0 ? .cancel : .internalError)
            try pair.pump()
        }
        #expect(pair.server.sentGoAway == nil)
    }

    /// RFC 9113 §8.1: a complete response before the whole request; the server asks the client to stop with
    /// RST_STREAM(NO_ERROR) after the response's last frame, so the client has all of it and the stream closes.
    @Test func aCompleteResponseStopsARequestStillBeingSent() throws {
        let pair = try HTTP2Pair()
        let withBody = try pair.client.submitRequest(Self.getHead(path: "/upload"), endStream: false)
        let headOnly = try pair.client.submitRequest(Self.getHead(path: "/other"), endStream: false)
        pair.client.sendData(stream: withBody, Array("part of a body".utf8))
        pair.client.sendData(stream: headOnly, Array("part of a body".utf8))
        try pair.pump()
        let body = [UInt8](repeating: 0x62, count: 100_000)  // more than one DATA frame
        try pair.server.submitResponse(stream: withBody, HTTPResponseHead(status: 413), endStream: false)
        pair.server.sendData(stream: withBody, body)
        pair.server.endStream(stream: withBody, trailers: ["x-done": "1"])
        pair.server.stopRequestAfterResponse(stream: withBody)
        try pair.server.submitResponse(stream: headOnly, HTTPResponseHead(status: 404), endStream: true)
        pair.server.stopRequestAfterResponse(stream: headOnly)
        for _ in 0..<10 {
            try pair.pump()
            pair.client.consume(stream: withBody, count: HTTP2Pair.body(pair.clientEvents, stream: withBody).count)
        }
        let events = pair.takeClientEvents()
        #expect(HTTP2Pair.body(events, stream: withBody) == body)
        #expect(events.contains(.trailers(stream: withBody, ["x-done": "1"])))
        #expect(events.contains(.streamClosed(stream: withBody, .noError)))
        #expect(events.contains(.streamClosed(stream: headOnly, .noError)))
        #expect(events.contains { if case .response(headOnly, let head, endStream: true) = $0 { head.status == 404 } else { false } })
        #expect(pair.server.activeStreamCount == 0 && pair.client.activeStreamCount == 0)
        #expect(pair.server.sentGoAway == nil)
    }

    /// A request that ended before the response did is not reset: nothing to stop.
    @Test func aCompleteRequestIsNotReset() throws {
        let pair = try HTTP2Pair()
        let stream = try pair.client.submitRequest(Self.getHead(), endStream: true)
        try pair.pump()
        try pair.server.submitResponse(stream: stream, HTTPResponseHead(status: 200), endStream: false)
        pair.server.sendData(stream: stream, Array("ok".utf8))
        pair.server.endStream(stream: stream)
        pair.server.stopRequestAfterResponse(stream: stream)
        try pair.pump()
        let events = pair.takeClientEvents()
        #expect(events.contains(.end(stream: stream)))
        #expect(events.contains(.streamClosed(stream: stream, .noError)))
        #expect(!pair.serverEvents.contains { if case .streamClosed(_, let code) = $0 { code != .noError } else { false } })
    }

    @Test func aHeadFromHTTP1LosesItsConnectionSpecificFields() {
        let head = HTTPRequestHead(
            method: "POST", target: "/svc/Method",
            headers: [
                "Host": "grpc.example", "Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "5",
                "TE": "trailers", "Transfer-Encoding": "chunked", "Upgrade": "h2c", "Content-Type": "application/grpc",
            ])
        let h2 = HTTP2RequestHead(head, scheme: "https", authority: "grpc.example:443")
        #expect(h2.authority == "grpc.example:443")
        #expect(h2.scheme == "https")
        #expect(h2.path == "/svc/Method")
        #expect(h2.headers.fields.map(\.name).sorted() == ["Content-Type", "te"])
        #expect(h2.headers.first("te") == "trailers")
    }

    @Test func aHeadForHTTP1TakesHostFromAuthorityAndJoinsCookies() {
        let h2 = HTTP2RequestHead(
            method: "GET", scheme: "https", authority: "api.example", path: "/a?b",
            headers: ["cookie": "a=1", "accept": "*/*", "cookie": "b=2", "host": "other.example"])
        let head = h2.http1Head
        #expect(head.version == .http2)
        #expect(head.target == "/a?b")
        #expect(head.headers.values(for: "Host") == ["api.example"])
        #expect(head.headers.values(for: "cookie") == ["a=1; b=2"])
        #expect(head.headers.first("accept") == "*/*")
    }

    @Test func aResponseForHTTP2LosesItsConnectionSpecificFields() {
        let head = HTTPResponseHead(
            status: 200, headers: ["Connection": "close", "Keep-Alive": "1", "Transfer-Encoding": "chunked", "X": "y"])
        #expect(head.http2Fields.fields.map(\.name) == ["X"])
    }

    @Test func errorCodesHaveTheirRFCNames() {
        #expect(HTTP2ErrorCode.enhanceYourCalm.description == "ENHANCE_YOUR_CALM")
        #expect(HTTP2ErrorCode(rawValue: 0x42).description == "0x42")
    }
}
