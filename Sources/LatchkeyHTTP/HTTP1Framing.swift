/// Message body length rules (RFC 9112 §6) and the Host requirement (RFC 9112 §3.2), applied to
/// a complete header section. Deliberately stricter than the RFC where leniency enables request
/// smuggling: any Content-Length list (even `5, 5`) and any Content-Length next to
/// Transfer-Encoding are refused, in requests and in responses alike.
enum HTTP1Framing {
    /// The framing the headers declare: `.chunked`, `.contentLength` or, when neither field is
    /// present, `nil` (the caller picks `.none` for requests, `.untilClose` for responses).
    static func declaredFraming(_ headers: HTTPHeaders, version: HTTPVersion) throws(HTTP1ParseError) -> HTTPBodyFraming? {
        var contentLength: Int?
        var contentLengthFields = 0
        var transferEncoding: [Substring] = []
        var hasTransferEncoding = false
        for index in headers.indices {
            let known = headers.spans[index].known
            if known == .contentLength {
                contentLengthFields += 1
                try headers.withValueBytes(at: index) { value throws(HTTP1ParseError) in
                    // The first element is checked, then a second field or a list is refused: no array of
                    // elements is built for the one value nearly every message has.
                    let comma = value.firstIndex(of: UInt8(ascii: ","))
                    let length = try parseContentLength(value[..<(comma ?? value.endIndex)])
                    if contentLengthFields > 1 || comma != nil {
                        let which = contentLength == length ? "repeated" : "conflicting"
                        throw HTTP1ParseError(
                            .conflictingContentLength, "\(which) Content-Length values: \(HTTP1ParseError.quote(value))")
                    }
                    contentLength = length
                }
            } else if known == .transferEncoding {
                hasTransferEncoding = true
                transferEncoding += headers.value(at: index).split(separator: ",", omittingEmptySubsequences: true)
                    .map { $0.trimmingOWS() }.filter { !$0.isEmpty }
            }
        }
        guard hasTransferEncoding else { return contentLength.map { .contentLength($0) } }
        if contentLength != nil {
            throw HTTP1ParseError(
                .contentLengthWithTransferEncoding, "both Content-Length and Transfer-Encoding are present")
        }
        if version == .http1_0 {
            throw HTTP1ParseError(.transferEncodingInHTTP10, "Transfer-Encoding in an HTTP/1.0 message")
        }
        guard let last = transferEncoding.last else {
            throw HTTP1ParseError(.invalidTransferEncoding, "Transfer-Encoding lists no coding")
        }
        let isChunked = { (coding: Substring) in String(coding).asciiCaseInsensitiveEquals("chunked") }
        guard isChunked(last) else {
            if transferEncoding.contains(where: isChunked) {
                throw HTTP1ParseError(.chunkedNotFinal, "chunked is not the final transfer coding")
            }
            throw HTTP1ParseError(
                .unsupportedTransferCoding, "unsupported transfer coding \(HTTP1ParseError.quote(last.utf8))")
        }
        if transferEncoding.count > 1 {
            if transferEncoding.dropLast().contains(where: isChunked) {
                throw HTTP1ParseError(.repeatedChunked, "chunked is applied more than once")
            }
            let other = transferEncoding.first { !isChunked($0) } ?? ""
            throw HTTP1ParseError(
                .unsupportedTransferCoding, "unsupported transfer coding \(HTTP1ParseError.quote(other.utf8))")
        }
        return .chunked
    }

    /// Requests without Content-Length or Transfer-Encoding have no body (RFC 9112 §6.3 rule 7).
    static func requestFraming(_ headers: HTTPHeaders, version: HTTPVersion) throws(HTTP1ParseError) -> HTTPBodyFraming {
        try declaredFraming(headers, version: version) ?? .none
    }

    /// Responses without either field run until the connection closes (RFC 9112 §6.3 rule 8).
    /// The caller overrides this for HEAD, 1xx, 204, 304 and successful CONNECT.
    static func responseFraming(_ headers: HTTPHeaders, version: HTTPVersion) throws(HTTP1ParseError) -> HTTPBodyFraming {
        try declaredFraming(headers, version: version) ?? .untilClose
    }

    /// An HTTP/1.1 request carries exactly one Host; any request carries at most one, and it must
    /// be a valid `uri-host [ ":" port ]` (RFC 9112 §3.2). An empty Host is refused too: this
    /// proxy has no use for targets without an authority.
    static func checkHost(_ headers: HTTPHeaders, version: HTTPVersion) throws(HTTP1ParseError) {
        var host: Int?
        for index in headers.indices where headers.spans[index].known == .host {
            guard host == nil else { throw HTTP1ParseError(.multipleHost, "more than one Host field") }
            host = index
        }
        guard let host else {
            if version == .http1_1 { throw HTTP1ParseError(.missingHost, "an HTTP/1.1 request without Host") }
            return
        }
        // In place: routing parses the value again into its canonical host, so nothing is built here.
        try headers.withValueBytes(at: host) { (value) throws(HTTP1ParseError) in
            guard Authority.isValid(value, defaultPort: 80) else {
                throw HTTP1ParseError(.invalidHost, "invalid Host: \(HTTP1ParseError.quote(value))")
            }
        }
    }

    private static func parseContentLength(_ element: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) -> Int {
        var digits = element[...]
        while let first = digits.first, HTTPField.isWhitespace(first) { digits = digits.dropFirst() }
        while let last = digits.last, HTTPField.isWhitespace(last) { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw HTTP1ParseError(.invalidContentLength, "invalid Content-Length: \(HTTP1ParseError.quote(element))")
        }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
