@testable import LatchkeyHTTP

/// A block in a list of its own, for tests that look at one block at a time. The proxy builds every block
/// in its session's one reused list (`HTTP2Session.block`, the `set...` methods).
extension HTTP2FieldList {
    static func request(_ head: HTTP2RequestHead) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: 64, fields: 8)
        list.setRequest(head)
        return list
    }

    static func request(translating head: HTTPRequestHead, scheme: String, authority: String) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: 64, fields: 8)
        list.setRequest(translating: head, scheme: scheme, authority: authority)
        return list
    }

    static func response(_ head: HTTPResponseHead) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: 16, fields: 2)
        list.setResponse(head)
        return list
    }

    static func trailers(_ fields: HTTPHeaders) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: 64, fields: 8)
        list.setTrailers(fields)
        return list
    }
}
