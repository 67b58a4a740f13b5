/// One header list's storage kept for reuse by a connection: once nothing needs a head any more its
/// storage is handed back (`giveBack`), and the connection's next head is built in it (`take`) instead of in
/// new buffers, so that a kept-alive connection's heads allocate nothing. Copy-on-write keeps this safe:
/// storage something else still shares is copied rather than reused, and storage grown past four times a
/// usual head is let go (`HTTPHeaders.removeAllKeepingUsualCapacity`).
public struct SpareHeaderStorage: Sendable {
    private var spare = HTTPHeaders()

    public init() {}

    /// Empty headers with room for a usual head: the storage handed back when there is one, else new.
    public mutating func take() -> HTTPHeaders {
        var headers = HTTPHeaders()
        provide(to: &headers)
        return headers
    }

    /// `take` into `headers`, which is empty (a parser's list between heads): swapped in place, without an
    /// assignment releasing the empty list it replaces.
    public mutating func provide(to headers: inout HTTPHeaders) {
        if spare.hasUsualCapacity {
            swap(&headers, &spare)
        } else {
            // Room for a usual head at once: grown field by field from empty, both buffers were reallocated
            // several times per head.
            headers.reserveCapacity(fields: HTTPHeaders.usualFields, bytes: HTTPHeaders.usualBytes)
        }
    }

    /// Keeps `headers`' storage, emptied, for the next `take` (one is enough: a second is dropped);
    /// `headers` is left empty.
    public mutating func giveBack(_ headers: inout HTTPHeaders) {
        guard !spare.hasUsualCapacity else { return }
        headers.removeAllKeepingUsualCapacity()
        swap(&spare, &headers)
    }
}

/// Several heads' storage kept for reuse, for a connection whose heads overlap: an HTTP/2 session decodes
/// the heads of every stream whose HEADERS arrived in one read before the first of them is handed back, so
/// a single spare served one of them and the others allocated (two buffers each, about 1.5 heads a request
/// at 16 streams, measured). At most `limit` are kept; storage beyond that is let go as before. An HTTP/1.1
/// connection, whose heads come one at a time, keeps `SpareHeaderStorage`: a swap, where this is an array's
/// push and pop.
public struct SpareHeaderStoragePool: Sendable {
    private var spares: [HTTPHeaders] = []
    private let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Empty headers with room for a usual head: a kept storage when there is one, else new.
    public mutating func take() -> HTTPHeaders {
        var headers = HTTPHeaders()
        provide(to: &headers)
        return headers
    }

    /// Makes `headers` empty storage with room for a usual head: a kept one when there is one, else new.
    public mutating func provide(to headers: inout HTTPHeaders) {
        if var spare = spares.popLast() {
            swap(&headers, &spare)
        } else {
            headers.reserveCapacity(fields: HTTPHeaders.usualFields, bytes: HTTPHeaders.usualBytes)
        }
    }

    /// Keeps `headers`' storage for a later head (leaving `headers` empty) unless `limit` are kept already or
    /// it grew too large.
    public mutating func giveBack(_ headers: inout HTTPHeaders) {
        guard spares.count < limit else { return }
        headers.removeAllKeepingUsualCapacity()
        guard headers.hasUsualCapacity else { return }
        spares.append(HTTPHeaders())
        swap(&spares[spares.count - 1], &headers)
    }

    /// How many are kept (for tests).
    var count: Int { spares.count }
}
