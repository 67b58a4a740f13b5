import LatchkeyHTTP
import LatchkeyNet
import Synchronization
import Testing

@testable import LatchkeyProxy

/// Records what a tunnel's upstream side reports.
final class RecordingStreamDelegate: ByteStreamDelegate, @unchecked Sendable {  // touched on the loop only
    let read = Mutex<[UInt8]>([])
    let eof = Mutex(false)
    let closed = Mutex<NetError??>(nil)
    func streamDidBecomeReady(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) { read.withLock { $0 += bytes } }
    func streamDidReachEOF(_ stream: any ByteStream) { eof.withLock { $0 = true } }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) { closed.withLock { $0 = .some(error) } }
}

/// The tunnel's side of the stream, kept for the test (touched on the loop only).
final class StreamBox: @unchecked Sendable {
    var stream: (any ByteStream)?
}

/// A WebSocket handshake on an HTTP/2 upstream stream (RFC 8441), against a real server-role `HTTP2Session`:
/// the extended CONNECT waits for the server's SETTINGS, goes out only when they offer it, its `200` reaches
/// the exchange as a `101`, and the stream then carries the tunnel's bytes.
@Suite(.serialized) struct HTTP2UpstreamWebSocketTests {
    typealias Rig = HTTP2UpstreamConnectionTests.Rig
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    static func openHandshake(_ rig: Rig, _ handler: RecordingUpstreamHandler) -> HTTP2UpstreamStream {
        let box = Mutex<HTTP2UpstreamStream?>(nil)
        rig.onLoop {
            let stream = rig.connection.makeStream(handler: handler)
            let head = HTTPRequestHead(
                method: "GET", target: "/socket",
                headers: [
                    "Host": "127.0.0.1:8089", "Authorization": "Bearer injected", "Upgrade": "websocket",
                    "Connection": "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
                ])
            stream.sendRequest(head, framing: .none, body: [], end: true, trailers: HTTPHeaders())
            box.withLock { $0 = stream }
        }
        return box.withLock { $0! }
    }

    static func requests(_ events: [HTTP2Event]) -> [(Int32, HTTP2RequestHead, Bool)] {
        events.compactMap { if case .request(let id, let head, let end) = $0 { (id, head, end) } else { nil } }
    }

    @Test func theExtendedConnectWaitsForSettingsThenCarriesTheTunnel() throws {
        var settings = HTTP2Settings()
        settings.enableConnectProtocol = true
        let rig = try Rig(serverSettings: settings)
        let handler = RecordingUpstreamHandler()
        let stream = Self.openHandshake(rig, handler)
        #expect(Self.requests(try rig.serverReceives()).isEmpty, "nothing before the server's SETTINGS (§3)")
        try rig.serverSends()  // SETTINGS with ENABLE_CONNECT_PROTOCOL
        guard let (id, head, endStream) = Self.requests(try rig.serverReceives()).first else {
            Issue.record("no extended CONNECT")
            return
        }
        #expect(!endStream, "END_STREAM would end the WebSocket")
        #expect(head.method == "CONNECT" && head.protocol == "websocket" && head.path == "/socket")
        #expect(head.scheme == "http" && head.authority == "127.0.0.1:8089")
        #expect(head.headers.first("authorization") == "Bearer injected")
        for gone in ["sec-websocket-key", "upgrade", "connection", "host"] { #expect(!head.headers.contains(gone)) }

        try rig.server.submitResponse(
            stream: id, HTTPResponseHead(status: 200, headers: ["sec-websocket-protocol": "chat"]), endStream: false)
        try rig.serverSends()
        guard case .head(let switched, _)? = handler.events.withLock({ $0 }).first else {
            Issue.record("no head")
            return
        }
        #expect(switched.status == 101)
        #expect(WebSocketHandshake.acceptsSwitch(switched, expectedAccept: WebSocketHandshake.accept(for: Self.key)))
        #expect(switched.headers.first("sec-websocket-protocol") == "chat")

        let delegate = RecordingStreamDelegate()
        let side = StreamBox()
        rig.onLoop {
            let taken = stream.takeOverForTunnel()
            taken?.stream.delegate = delegate
            taken?.stream.write([1, 2, 3])
            side.stream = taken?.stream
        }
        #expect(try rig.serverReceives().contains(.data(stream: id, [1, 2, 3])))
        rig.server.sendData(stream: id, [9, 8])
        rig.server.endStream(stream: id)
        try rig.serverSends()
        #expect(delegate.read.withLock { $0 } == [9, 8])
        #expect(delegate.eof.withLock { $0 })
        rig.onLoop { side.stream?.shutdownWriting() }
        #expect(try rig.serverReceives().contains(.end(stream: id)))
        try rig.serverSends()
        #expect(delegate.closed.withLock { $0 } == .some(nil), "both ends: closed cleanly")
    }

    @Test func aServerWithoutExtendedConnectGetsNoneAndTheStreamAsksForHTTP11() throws {
        let rig = try Rig()
        let handler = RecordingUpstreamHandler()
        _ = Self.openHandshake(rig, handler)
        try rig.serverSends()  // SETTINGS without ENABLE_CONNECT_PROTOCOL
        rig.onLoop {}
        #expect(Self.requests(try rig.serverReceives()).isEmpty)
        guard case .http2(let error)? = handler.failure.withLock({ $0 })?.0 else {
            Issue.record("expected HTTP_1_1_REQUIRED")
            return
        }
        #expect(error.code == .http11Required)
        #expect(ExchangeStateMachine.requiresHTTP11(.http2(error)))
    }

    @Test func aServerResetClosesTheTunnelWithAnError() throws {
        var settings = HTTP2Settings()
        settings.enableConnectProtocol = true
        let rig = try Rig(serverSettings: settings)
        let handler = RecordingUpstreamHandler()
        let stream = Self.openHandshake(rig, handler)
        _ = try rig.serverReceives()
        try rig.serverSends()
        guard let (id, _, _) = Self.requests(try rig.serverReceives()).first else {
            Issue.record("no extended CONNECT")
            return
        }
        try rig.server.submitResponse(stream: id, HTTPResponseHead(status: 200), endStream: false)
        try rig.serverSends()
        let delegate = RecordingStreamDelegate()
        rig.onLoop { stream.takeOverForTunnel()?.stream.delegate = delegate }
        rig.server.resetStream(stream: id, code: .cancel)
        try rig.serverSends()
        guard case .some(.some(let error)) = delegate.closed.withLock({ $0 }) else {
            Issue.record("expected a close with an error")
            return
        }
        #expect(error.code == .reset)
    }
}
