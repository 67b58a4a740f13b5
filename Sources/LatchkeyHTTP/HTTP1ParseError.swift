/// Why an HTTP/1.x message was refused. The one place where a codec failure is mapped to a
/// status, a machine-readable `code.rawValue` and a human `detail`.
///
/// `detail` never quotes more than 64 bytes of input, with non-printable bytes escaped, so it is
/// safe to log and to put in a response.
public struct HTTP1ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What rule was broken. Raw values are snake_case and stable (metric labels, `error` fields).
    public enum Code: String, Sendable, Equatable, CaseIterable {
        case invalidRequestLine = "invalid_request_line"
        case invalidMethod = "invalid_method"
        case invalidTarget = "invalid_target"
        case unsupportedVersion = "unsupported_version"
        case requestLineTooLong = "request_line_too_long"
        case invalidStatusLine = "invalid_status_line"
        case statusLineTooLong = "status_line_too_long"
        case headerSectionTooLarge = "header_section_too_large"
        case tooManyHeaders = "too_many_headers"
        case invalidHeaderName = "invalid_header_name"
        case invalidHeaderValue = "invalid_header_value"
        case whitespaceBeforeColon = "whitespace_before_colon"
        case obsoleteLineFolding = "obsolete_line_folding"
        case bareCR = "bare_cr"
        case bareLF = "bare_lf"
        case nulByte = "nul_byte"
        case tooManyEmptyLines = "too_many_empty_lines"
        case invalidContentLength = "invalid_content_length"
        case conflictingContentLength = "conflicting_content_length"
        case contentLengthWithTransferEncoding = "content_length_with_transfer_encoding"
        case transferEncodingInHTTP10 = "transfer_encoding_in_http10"
        case invalidTransferEncoding = "invalid_transfer_encoding"
        case unsupportedTransferCoding = "unsupported_transfer_coding"
        case chunkedNotFinal = "chunked_not_final"
        case repeatedChunked = "repeated_chunked"
        case invalidChunkSize = "invalid_chunk_size"
        case chunkSizeLineTooLong = "chunk_size_line_too_long"
        case invalidChunkExtension = "invalid_chunk_extension"
        case invalidChunkTerminator = "invalid_chunk_terminator"
        case missingHost = "missing_host"
        case multipleHost = "multiple_host"
        case invalidHost = "invalid_host"
        case unexpectedEOF = "unexpected_eof"
        case dataAfterEOF = "data_after_eof"
    }

    /// The rule that was broken.
    public let code: Code
    /// A short human explanation; quotes at most 64 bytes of input, escaped.
    public let detail: String

    /// Creates an error; `detail` must already be safe to show (see `quote`).
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The status a server answers with: 414 for a too-long request line (RFC 9112 §3),
    /// 431 for a too-large header section (RFC 6585 §5), 501 for an unknown transfer coding
    /// (RFC 9112 §6.1), 505 for an unsupported version (RFC 9110 §15.6.6), else 400.
    public var status: Int {
        switch code {
        case .requestLineTooLong: 414
        case .headerSectionTooLarge, .tooManyHeaders: 431
        case .unsupportedTransferCoding: 501
        case .unsupportedVersion: 505
        default: 400
        }
    }

    /// `status code: detail`, e.g. `400 bare_lf: a line ends in LF without CR: "…"`.
    public var description: String { "\(status) \(code.rawValue): \(detail)" }

    /// Renders up to `limit` bytes of input printable: ASCII graphic bytes and space as-is,
    /// everything else (and `\`, `"`) as `\xNN`; a trailing `…` marks truncation.
    static func quote(_ bytes: some Collection<UInt8>, limit: Int = 64) -> String {
        var out = "\""
        for byte in bytes.prefix(limit) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "\"") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += byte < 0x10 ? "\\x0\(hex)" : "\\x\(hex)"
            }
        }
        out += "\""
        if bytes.count > limit { out += "…" }
        return out
    }
}
