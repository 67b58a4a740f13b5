import LatchkeyConfig
import LatchkeyHTTP

/// How the proxy answers a gRPC call it fails itself (no route, credential, upstream unreachable): as a gRPC
/// status in a trailers-only response (HTTP 200, `grpc-status`, `grpc-message`, END_STREAM on the HEADERS),
/// which every gRPC client reports as a status with the detail. A JSON error body would reach the
/// application as a confusing `UNKNOWN`/`INTERNAL` "malformed response".
///
/// The status follows gRPC's HTTP-to-gRPC mapping (grpc/doc/http-grpc-status-mapping.md), so a client sees
/// the same code it would get from the HTTP status through a plain HTTP/2 gateway; a gateway timeout is
/// `DEADLINE_EXCEEDED`, which is what it means to a caller.
enum GRPCStatus {
    static let unauthenticated = 16, permissionDenied = 7, unimplemented = 12, unavailable = 14, internalError = 13
    static let deadlineExceeded = 4, resourceExhausted = 8, invalidArgument = 3

    /// Whether a request is a gRPC call (`content-type: application/grpc`, `application/grpc+proto`, ...).
    static func isGRPC(_ headers: HTTPHeaders) -> Bool {
        guard let type = headers.first("content-type") else { return false }
        let lowered = type.lowercased()
        return lowered == "application/grpc" || lowered.hasPrefix("application/grpc+")
            || lowered.hasPrefix("application/grpc;")
    }

    static func code(for error: ProxyError) -> Int {
        switch error.status {
        case 400, 414, 431: internalError
        case 401: unauthenticated
        case 403: permissionDenied
        case 404, 501: unimplemented
        case 429: resourceExhausted
        case 504, 408: deadlineExceeded
        case 421, 502, 503: unavailable
        default: unavailable
        }
    }

    /// The trailers-only response for `error`: the detail names the error, route and connection like the
    /// JSON body does, scrubbed of every known secret, percent-encoded as `grpc-message` requires.
    static func response(for error: ProxyError, scrubber: SecretScrubber) -> HTTPResponseHead {
        var message = "latchkey \(error.errorName): \(scrubber.scrub(error.detail))"
        if let route = error.route { message += " (route \(route)" + (error.connection.map { ", connection \($0)" } ?? "") + ")" }
        var head = HTTPResponseHead(status: 200)
        head.headers.add(name: "content-type", value: "application/grpc")
        head.headers.add(name: "grpc-status", value: String(code(for: error)))
        head.headers.add(name: "grpc-message", value: percentEncoded(message))
        head.headers.add(name: "x-latchkey-error", value: error.errorName)
        return head
    }

    /// gRPC's `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX` (PROTOCOL-HTTP2.md).
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
