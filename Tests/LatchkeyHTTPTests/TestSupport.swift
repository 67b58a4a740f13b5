import LatchkeyHTTP

/// The bytes of `text` (UTF-8).
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Merges adjacent `.body` events so event lists from different splits compare equal.
func normalized(_ events: [HTTP1RequestEvent]) -> [HTTP1RequestEvent] {
    var out: [HTTP1RequestEvent] = []
    for event in events {
        if case .body(let more) = event, case .body(let previous)? = out.last {
            out[out.count - 1] = .body(previous + more)
        } else {
            out.append(event)
        }
    }
    return out
}

func normalized(_ events: [HTTP1ResponseEvent]) -> [HTTP1ResponseEvent] {
    var out: [HTTP1ResponseEvent] = []
    for event in events {
        if case .body(let more) = event, case .body(let previous)? = out.last {
            out[out.count - 1] = .body(previous + more)
        } else {
            out.append(event)
        }
    }
    return out
}

/// Feeds `pieces` in order to a fresh request parser; the events (normalized) or the error.
func parseRequest(
    _ pieces: [[UInt8]], limits: HTTP1Limits = .init()
) -> Result<[HTTP1RequestEvent], HTTP1ParseError> {
    var parser = HTTP1RequestParser(limits: limits)
    var events: [HTTP1RequestEvent] = []
    do {
        for piece in pieces { events += try parser.feed(piece) }
    } catch {
        return .failure(error)
    }
    return .success(normalized(events))
}

/// Feeds `pieces` to a fresh response parser that expects answers to `methods`, then, when
/// `eof`, signals end of input.
func parseResponse(
    _ pieces: [[UInt8]], methods: [String] = ["GET"], eof: Bool = false, limits: HTTP1Limits = .init()
) -> Result<[HTTP1ResponseEvent], HTTP1ParseError> {
    var parser = HTTP1ResponseParser(limits: limits)
    for method in methods { parser.expectResponse(toMethod: method) }
    var events: [HTTP1ResponseEvent] = []
    do {
        for piece in pieces { events += try parser.feed(piece) }
        if eof { events += try parser.finishOnEOF() }
    } catch {
        return .failure(error)
    }
    return .success(normalized(events))
}

/// Every way this suite splits a message: whole, byte by byte, and in two at every offset.
func splits(_ wire: [UInt8]) -> [[[UInt8]]] {
    var result: [[[UInt8]]] = [[wire], wire.map { [$0] }]
    for offset in 0...wire.count {
        result.append([Array(wire[..<offset]), Array(wire[offset...])])
    }
    return result
}

extension Result where Failure == HTTP1ParseError {
    var error: HTTP1ParseError? {
        if case .failure(let error) = self { error } else { nil }
    }
}
