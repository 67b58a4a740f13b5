import Testing

@testable import LatchkeyConfig

/// An `api_key` connection cannot inject into a framing, routing or hop-by-hop field (issue 9, item 1):
/// a key in `Content-Length` or `Transfer-Encoding` would reframe the request, one in `Connection` or `TE`
/// would be dropped or nominate fields, one in `Host` or `Via` would reroute or confuse loop detection.
@Suite struct APIKeyHeaderTests {
    static let reserved = [
        "Content-Length", "Transfer-Encoding", "Host", "Connection", "Keep-Alive", "Proxy-Connection", "TE",
        "Trailer", "Upgrade", "Proxy-Authorization", "Via", "content-length", "HOST",
    ]

    @Test(arguments: reserved)
    func reservedHeaderIsAConfigErrorNamingFileLineAndKey(header: String) {
        expectSingleError(
            "connections:\n  k:\n    type: api_key\n    key: abcdef\n    header: \(header)", line: 5, column: 13,
            keyPath: "connections.k.header", message: "framing or hop-by-hop field")
    }

    @Test func ordinaryHeadersStillLoad() throws {
        for header in ["X-Api-Key", "Authorization", "X-Content-Length-Hint"] {
            let config = try parse("connections:\n  k:\n    type: api_key\n    key: abcdef\n    header: \(header)")
            guard case .apiKey(_, let name, _)? = config.connections.first?.kind else {
                Issue.record("not an api_key connection")
                continue
            }
            #expect(name == header)
        }
    }
}
