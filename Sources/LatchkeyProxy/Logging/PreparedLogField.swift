/// A field of the access log whose value is fixed before any request: a route's name and connection, its
/// upstream. Written once per format when the route is built, so that each request copies its bytes in one
/// piece instead of checking and escaping the same text again (three such fields cost about 1,000
/// instructions a line). A class: a request takes it with one retain, where a struct of four buffers was
/// copied member by member.
///
/// The bytes are held in memory of its own rather than in arrays: reading an array out of a class retains
/// it, and a line reads three.
final class PreparedLogField: @unchecked Sendable {  // immutable; the buffers are freed only in deinit
    let key: LogFieldKey
    /// The value, for loggers that take metadata (`MetadataLine`).
    let value: String
    /// ` key=value`, quoted when the value needs it.
    let text: UnsafeBufferPointer<UInt8>
    /// `,"key":"value"`.
    let json: UnsafeBufferPointer<UInt8>

    init(_ key: LogFieldKey, _ value: String) {
        self.key = key
        self.value = value
        text = .allocatedCopy(of: LogLine.rendered(key, value, format: .text))
        json = .allocatedCopy(of: LogLine.rendered(key, value, format: .json))
    }

    deinit {
        text.deallocate()
        json.deallocate()
    }
}

/// A route's prepared access-log fields (`ProxyRuntime.RouteRuntime.logFields`).
struct RouteLogFields: Sendable {
    let connection: PreparedLogField
    let route: PreparedLogField
    /// The route's own upstream (`RouteRuntime.upstreamEndpoint`); a request that names its upstream
    /// (forward mode) writes the field from its endpoint.
    let upstream: PreparedLogField?

    init(connection: String?, route: String, upstream: UpstreamEndpoint?) {
        self.connection = PreparedLogField(LogFieldKey.accessLine.connection, connection ?? "-")
        self.route = PreparedLogField(LogFieldKey.accessLine.route, route)
        self.upstream = upstream.map { PreparedLogField(LogFieldKey.accessLine.upstream, "\($0.scheme)://\($0.authority)") }
    }
}
