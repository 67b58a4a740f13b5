import LatchkeyHTTP
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
