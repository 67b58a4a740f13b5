@testable import LatchkeyHTTP
import Testing

/// `HTTPHeaders` keeps names and values as bytes with a span per field: the String views, byte views and
/// mutations must agree.
@Suite struct HTTPHeadersStorageTests {
    @Test func stringAndByteViewsAgreeAfterMutations() {
        var headers: HTTPHeaders = ["Host": "a.example", "X-One": "1", "x-one": "2", "Accept": "*/*"]
        headers.replaceOrAdd(name: "X-ONE", value: "replaced")
        #expect(headers.fields.map(\.name) == ["Host", "X-One", "Accept"])
        #expect(headers.first("x-one") == "replaced")
        #expect(headers.remove(name: "ACCEPT") == 1)
        headers.add(name: "Via", value: "1.1 a, 1.1 b")
        var seen: [String] = []
        headers.forEachField { name, value in
            seen.append(String(decoding: name, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
        }
        #expect(seen == ["Host=a.example", "X-One=replaced", "Via=1.1 a, 1.1 b"])
        #expect(headers == ["Host": "a.example", "X-One": "replaced", "Via": "1.1 a, 1.1 b"])
        #expect(headers != ["host": "a.example", "X-One": "replaced", "Via": "1.1 a, 1.1 b"], "names keep their case")
    }

    /// A prepared field adds and replaces exactly as the same name and value given as Strings do: at the
    /// first field's place, later ones of the name gone, names compared without case, known or not.
    @Test func preparedFieldsAddAndReplaceAsStringFieldsDo() {
        let start: HTTPHeaders = [
            "host": "client.example", "X-Api-Key": "k1", "Accept": "*/*", "HOST": "second", "x-api-key": "k2",
        ]
        for (name, value) in [("Host", "up.example:8443"), ("x-API-key", "injected"), ("Via", "1.1 lk")] {
            var prepared = start, strings = start
            let field = HTTPHeaders.PreparedField(name: name, value: value)
            #expect(field.name == name && field.value == value)
            prepared.replaceOrAdd(field)
            strings.replaceOrAdd(name: name, value: value)
            #expect(prepared.fields.map { $0.name.lowercased() } == strings.fields.map { $0.name.lowercased() })
            #expect(prepared.fields.map(\.value) == strings.fields.map(\.value), "\(name)")
            #expect(prepared.first(name) == value)
            var added = start
            added.add(field)
            #expect(added.count == start.count + 1 && added.fields.last == .init(name: name, value: value))
        }
        var head = HTTPRequestHead(method: "GET", target: "/", headers: start)
        head.headers.replaceOrAdd(HTTPHeaders.PreparedField(name: "Host", value: "up.example"))
        var out: [UInt8] = []
        HTTP1Serializer.appendRequestHead(head, to: &out)
        #expect(String(decoding: out, as: UTF8.self).contains("\r\nHost: up.example\r\nX-Api-Key: k1\r\n"))
    }

    @Test(arguments: [0, 7, 10, 64, 999, 1_000_000, 1_234_567_890_123, Int.max])
    func aContentLengthIsWrittenInPlainDecimal(length: Int) {
        var headers: HTTPHeaders = ["A": "1", "content-length": "0010"]
        headers.setFraming(.contentLength(length))
        #expect(headers.fields == [.init(name: "A", value: "1"), .init(name: "Content-Length", value: String(length))])
        #expect(headers.firstIndex(of: .contentLength) == 1)
        var wire: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "GET", target: "/", headers: headers), to: &wire)
        #expect(String(decoding: wire, as: UTF8.self).hasSuffix("\r\nA: 1\r\nContent-Length: \(length)\r\n\r\n"))
    }

    @Test func listElementsAreFoundAsBytesAcrossFieldsAndWhitespace() {
        let headers: HTTPHeaders = ["Connection": " keep-alive ,,", "connection": "\tClose , upgrade"]
        #expect(headers.hasListElement("close", in: "CONNECTION"))
        #expect(headers.hasListElement("Upgrade", in: "connection"))
        #expect(!headers.hasListElement("clos", in: "Connection"))
        #expect(!headers.hasListElement("close", in: "Keep-Alive"))
        #expect(headers.listElements(for: "connection") == ["keep-alive", "Close", "upgrade"])
    }

    @Test func removingByNameBytesKeepsTheOthersInOrder() {
        var headers: HTTPHeaders = ["A": "1", "Content-Length": "5", "B": "2", "transfer-encoding": "chunked"]
        headers.setFraming(.chunked)
        #expect(headers.fields.map(\.name) == ["A", "B", "Transfer-Encoding"])
        headers.setFraming(.contentLength(7))
        #expect(headers == ["A": "1", "B": "2", "Content-Length": "7"])
    }
}

/// `KnownFieldName`: the names the proxy looks up are recognised once, in any case; near misses (same
/// length, one byte off) and every other name stay `.other` and are still found by bytes.
@Suite struct KnownFieldNameTests {
    @Test(arguments: [
        ("Host", KnownFieldName.host), ("CONNECTION", .connection), ("content-length", .contentLength),
        ("Transfer-Encoding", .transferEncoding), ("Keep-Alive", .keepAlive), ("Proxy-Connection", .proxyConnection),
        ("TE", .te), ("Trailer", .trailer), ("Upgrade", .upgrade), ("Authorization", .authorization),
        ("Proxy-Authorization", .proxyAuthorization), ("Proxy-Authenticate", .proxyAuthenticate), ("Via", .via),
        ("Max-Forwards", .maxForwards), ("Location", .location), ("Expect", .expect),
        ("Hosts", .other), ("Hust", .other), ("Content-Lengtx", .other), ("Keep_Alive", .other), ("X-Via", .other),
        ("", .other), ("Authorizatioñ", .other),
    ])
    func namesAreRecognisedInAnyCase(name: String, known: KnownFieldName) {
        #expect(KnownFieldName(name) == known)
    }

    @Test func lookupsFindKnownAndOtherNamesAlike() {
        var headers = HTTPHeaders([("hOsT", "a"), ("X-Custom", "1"), ("Via", "1.1 x"), ("x-custom", "2")])
        #expect(headers.first("Host") == "a")
        #expect(headers.values(for: "X-CUSTOM") == ["1", "2"])
        #expect(headers.contains("via"))
        #expect(!headers.contains("Hos"))
        headers.replaceOrAdd(name: "x-Custom", value: "3")
        #expect(headers.values(for: "x-custom") == ["3"])
        #expect(headers.remove(name: "VIA") == 1)
        #expect(headers.fields.map(\.name) == ["hOsT", "X-Custom"])
    }

    @Test func lookupsByAKnownNameAnswerAsLookupsByTheString() {
        let headers = HTTPHeaders([
            ("hOsT", "a"), ("connection", " keep-alive ,"), ("CONNECTION", "Close"), ("Max-Forwards", "3"),
            ("X-Via", "not via"), ("Location", "/next"),
        ])
        #expect(headers.first(.host) == "a")
        #expect(headers.first(.location) == "/next")
        #expect(headers.first(.via) == nil)  // a name that only ends in "Via"
        #expect(headers.contains(.maxForwards))
        #expect(!headers.contains(.upgrade))
        #expect(headers.hasListElement("close", in: .connection))  // in the second Connection field
        #expect(headers.hasListElement("KEEP-ALIVE", in: .connection))
        #expect(!headers.hasListElement("close", in: .upgrade))
        #expect(!headers.hasListElement("keep", in: .connection))
        for known in [KnownFieldName.host, .connection, .maxForwards, .via, .upgrade, .location] {
            let name = ["host": "Host", "connection": "Connection", "maxForwards": "Max-Forwards", "via": "Via",
                        "upgrade": "Upgrade", "location": "Location"][String(describing: known)]!
            #expect(headers.first(known) == headers.first(name), "\(name)")
            #expect(headers.contains(known) == headers.contains(name), "\(name)")
        }
    }

    @Test func connectionOptionsAreRemovedInAnyCaseAndOnlyTheyAre() {
        var headers = HTTPHeaders([
            ("Connection", "keep-alive, X-Hop"), ("connection", "  x-other-HOP ,close"), ("x-hop", "1"),
            ("X-Other-Hop", "2"), ("X-Hopper", "3"), ("Keep-Alive", "timeout=5"), ("Host", "a"),
        ])
        headers.removeHopByHop(alsoRemoving: ["x-extra"])
        #expect(headers.fields.map(\.name) == ["X-Hopper", "Host"])
    }

    /// An HTTP/2 message's `content-length`: digits only, at most 18 of them, the first field's; anything else
    /// is no declared length.
    @Test(arguments: [
        ("0", 0), ("64", 64), ("999999999999999999", 999_999_999_999_999_999), ("1234567890123456789", nil),
        ("", nil), ("+5", nil), ("-1", nil), ("1,1", nil), ("12a", nil), ("0x10", nil), ("٣", nil),
    ] as [(String, Int?)])
    func declaredContentLengthIsDigitsOnly(value: String, expected: Int?) {
        let headers = HTTPHeaders([("server", "x"), ("content-length", value), ("content-length", "7")])
        #expect(headers.declaredContentLength == expected)
    }

    @Test func noContentLengthIsNoDeclaredLength() {
        #expect(HTTPHeaders([("server", "x")]).declaredContentLength == nil)
        #expect(HTTPHeaders([("Content-Length", "12")]).declaredContentLength == 12)
    }
}
