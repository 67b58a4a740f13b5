/// Which protocol a new listener connection speaks, read from its first bytes: HTTP/2 with prior knowledge
/// starts with the connection preface (RFC 9113 §3.4), anything else is HTTP/1.1. Pure, so every split of
/// the preface is tested directly.
///
/// No HTTP/1.1 request starts with `PRI * HTTP/2.0` (RFC 9113 §3.4 chose `PRI` so that it does not), and no
/// method registered today starts with `PR`: a request that begins like the preface costs at most a wait
/// for its second byte, and the header timeout bounds that wait as it bounds any head.
enum ClientPreface {
    /// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, the 24 bytes an HTTP/2 client sends first.
    static let bytes: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable {
        /// The bytes so far are a proper prefix of the preface: wait for more.
        case needMore
        /// The whole preface: an HTTP/2 connection (the preface bytes stay with the rest for the session).
        case http2
        /// Not the preface: HTTP/1.1 as before, from the first byte.
        case http1
    }

    static func classify(_ received: [UInt8]) -> Verdict {
        let compared = min(received.count, bytes.count)
        for index in 0..<compared where received[index] != bytes[index] { return .http1 }
        return compared == bytes.count ? .http2 : .needMore
    }
}
