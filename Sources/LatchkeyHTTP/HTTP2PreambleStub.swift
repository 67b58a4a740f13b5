// TEMPORARY (engineer C): the codec API from /work/notes/h2-preamble.md, compile-only, so the client adapter
// builds before the lead's `HTTP2Session` lands on main. Deleted by the merge of main.

extension HTTPVersion { public static let http2 = HTTPVersion(major: 2, minor: 0) }

public struct HTTP2ErrorCode: RawRepresentable, Sendable, Equatable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let noError = Self(rawValue: 0), protocolError = Self(rawValue: 1), internalError = Self(rawValue: 2)
    public static let flowControlError = Self(rawValue: 3), settingsTimeout = Self(rawValue: 4)
    public static let streamClosed = Self(rawValue: 5), frameSizeError = Self(rawValue: 6)
    public static let refusedStream = Self(rawValue: 7), cancel = Self(rawValue: 8)
    public static let compressionError = Self(rawValue: 9), connectError = Self(rawValue: 10)
    public static let enhanceYourCalm = Self(rawValue: 11), inadequateSecurity = Self(rawValue: 12)
    public static let http11Required = Self(rawValue: 13)
}
public struct HTTP2Error: Error, Sendable {
    public var code: HTTP2ErrorCode
    public var detail: String
}
public struct HTTP2Settings: Sendable {
    public var maxConcurrentStreams: UInt32 = 100
    public var initialWindowSize: UInt32 = 256 * 1024
    public var connectionWindowSize: UInt32 = 1 << 20
    public var maxHeaderListSize: UInt32 = 64 * 1024
    public var headerTableSize: UInt32 = 4096
    public var enableConnectProtocol = false
    public var resetBurst: UInt32 = 1000, resetRatePerSecond: UInt32 = 33
    public init() {}
}
public struct HTTP2RequestHead: Sendable, Equatable {
    public var method: String
    public var scheme: String?
    public var authority: String?
    public var path: String?
    public var `protocol`: String?
    public var headers: HTTPHeaders
    public var http1Head: HTTPRequestHead { fatalError() }
}
extension HTTPResponseHead { public var http2Fields: HTTPHeaders { headers } }
public enum HTTP2Event: Sendable {
    case request(stream: Int32, HTTP2RequestHead, endStream: Bool)
    case interimResponse(stream: Int32, HTTPResponseHead)
    case response(stream: Int32, HTTPResponseHead, endStream: Bool)
    case data(stream: Int32, [UInt8])
    case end(stream: Int32)
    case trailers(stream: Int32, HTTPHeaders)
    case headersTooLarge(stream: Int32)
    case dataDrained(stream: Int32)
    case streamClosed(stream: Int32, HTTP2ErrorCode)
    case goAway(lastStreamID: Int32, HTTP2ErrorCode, debug: String)
    case remoteSettings(maxConcurrentStreams: UInt32, enableConnectProtocol: Bool)
}
public final class HTTP2Session {
    public enum Role: Sendable { case client, server }
    public init(role: Role, settings: HTTP2Settings = HTTP2Settings()) throws(HTTP2Error) { fatalError() }
    public func receive(_ bytes: [UInt8], into events: inout [HTTP2Event]) throws(HTTP2Error) {}
    public func send(into output: inout [UInt8], events: inout [HTTP2Event]) throws(HTTP2Error) {}
    public var isActive: Bool { false }
    public var activeStreamCount: Int { 0 }
    public func submitResponse(stream: Int32, _ head: HTTPResponseHead, endStream: Bool) throws(HTTP2Error) {}
    public func submitInterimResponse(stream: Int32, _ head: HTTPResponseHead) throws(HTTP2Error) {}
    public func sendData(stream: Int32, _ bytes: [UInt8]) {}
    public func endStream(stream: Int32, trailers: HTTPHeaders = HTTPHeaders()) {}
    public func pendingDataBytes(stream: Int32) -> Int { 0 }
    public func consume(stream: Int32, count: Int) {}
    public func resetStream(stream: Int32, code: HTTP2ErrorCode) {}
    public func goAway(code: HTTP2ErrorCode, debug: String = "") {}
}
