/// The one normalisation of a request path, applied to every request form (origin and absolute) before
/// routing and forwarding, so that the path a route matched is the path the upstream receives.
///
/// Rules, on the path part only (the query, from the first "?", is never touched):
/// 1. Dot-segments are removed (RFC 3986 §5.2.4): `/ro/../admin` becomes `/admin`, `/a/./b` becomes `/a/b`.
/// 2. A path that would climb above the root (`/..`, `/a/../../b`) is refused rather than clamped to "/".
///    RFC 3986 §5.2.4 clamps, but a client that names a resource above the root is probing or broken; for a
///    proxy that injects credentials no request whose meaning depends on who normalises it may go upstream.
/// 3. A percent-encoded "." (`%2e`, any case) is refused: "." is unreserved and never needs encoding
///    (RFC 3986 §2.3), so an encoded one only hides a dot-segment from the router. An encoded "/" or "\"
///    (`%2f`, `%5c`) is data inside a segment and passes (APIs such as GitLab's `projects/group%2Fproject`
///    and npm's `@scope%2fname` need it), unless an upstream or CDN that decodes it would then see a
///    dot-segment: `..%2fadmin`, `x%2f..`, `x%5c.%5cy` are refused. In other words, the path read with every
///    `%2f`/`%5c` decoded has no dot-segment the router did not see.
/// 4. A raw "\" is refused: it is not allowed in a URI path (RFC 3986 §3.3) and some servers treat it as "/".
/// 5. A "." or ".." segment with parameters (`/..;/admin`, `/.;x/`) is refused: RFC 3986 calls it an ordinary
///    segment, but servlet containers drop the parameters and then treat it as a dot-segment.
public enum RequestPath {
    /// Why a path was refused; `description` is safe to show to the client.
    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        case encodedDelimiter
        case backslash
        case aboveRoot
        case dotSegmentWithParameters

        public var description: String {
            switch self {
            case .encodedDelimiter:
                "the path contains a percent-encoded '.' (%2e), or an encoded '/' or '\\' (%2f, %5c) beside a '.' or '..' segment, which the proxy does not forward"
            case .backslash: "the path contains '\\', which is not allowed in a URI path (RFC 3986 §3.3)"
            case .aboveRoot: "the path climbs above the root with '..' (RFC 3986 §5.2.4)"
            case .dotSegmentWithParameters:
                "the path has a '.' or '..' segment with ';' parameters, which some servers read as '..'"
            }
        }
    }

    /// `pathAndQuery` (starting with "/") with dot-segments removed from its path; throws on a refused path.
    /// Returns the input unchanged (no copy) when it holds no dot-segment.
    public static func normalize(_ pathAndQuery: String) throws(Refusal) -> String {
        // The scan reads the contiguous UTF-8 in place: iterating `utf8` cost ~60 instructions per byte.
        var text = pathAndQuery
        // withUTF8 does not carry typed throws through: the refusal comes out as a Result.
        let scanned = text.withUTF8 { bytes in Result { () throws(Refusal) in try scan(bytes) } }
        let needsRewrite = try scanned.get()
        guard needsRewrite else { return pathAndQuery }
        let query = pathAndQuery.firstIndex(of: "?")
        let path = query.map { String(pathAndQuery[..<$0]) } ?? pathAndQuery
        let result = removeDotSegments(path)
        guard !result.climbedAboveRoot else { throw .aboveRoot }
        return result.path + (query.map { String(pathAndQuery[$0...]) } ?? "")
    }

    /// Checks the path part of `bytes` against rules 2 to 5; true when it holds a dot-segment to remove.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>) throws(Refusal) -> Bool {
        // Every rule needs a ".", "%" or "\\" in the path: most paths have none, and one quick pass says so.
        guard let first = bytes.firstIndex(where: {
            $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "?")
        }), bytes[first] != UInt8(ascii: "?") else { return false }
        var needsRewrite = false
        var twoBack: UInt8 = 0
        var oneBack: UInt8 = 0
        var dots = 0  // dots so far in the current segment while it holds only dots, else -1
        var dotsBeforeEscape = 0  // `dots` as it was before the last "%"
        var afterEncodedSlash = false  // the current (part of a) segment follows a %2f or %5c
        for byte in bytes {
            if byte == UInt8(ascii: "?") { break }
            if byte == UInt8(ascii: "\\") { throw .backslash }
            if twoBack == UInt8(ascii: "%") {
                let low = byte | 0x20
                if oneBack == UInt8(ascii: "2") && low == UInt8(ascii: "e") { throw .encodedDelimiter }
                if (oneBack == UInt8(ascii: "2") && low == UInt8(ascii: "f"))
                    || (oneBack == UInt8(ascii: "5") && low == UInt8(ascii: "c"))
                {
                    // Decoded, this is a separator: what came before it in the segment must not be a dot-segment,
                    // and what follows is checked as a segment of its own.
                    if dotsBeforeEscape == 1 || dotsBeforeEscape == 2 { throw .encodedDelimiter }
                    afterEncodedSlash = true
                    twoBack = 0
                    oneBack = 0
                    dots = 0
                    continue
                }
            }
            if byte == UInt8(ascii: "%") { dotsBeforeEscape = dots }
            twoBack = oneBack
            oneBack = byte
            if byte == UInt8(ascii: "/") {
                if dots == 1 || dots == 2 {
                    if afterEncodedSlash { throw .encodedDelimiter }
                    needsRewrite = true
                }
                dots = 0
                afterEncodedSlash = false
            } else if byte == UInt8(ascii: ";"), dots == 1 || dots == 2 {
                throw .dotSegmentWithParameters
            } else if dots >= 0 {
                dots = byte == UInt8(ascii: ".") ? dots + 1 : -1
            }
        }
        if dots == 1 || dots == 2 {
            if afterEncodedSlash { throw .encodedDelimiter }
            needsRewrite = true
        }
        return needsRewrite
    }

    /// RFC 3986 §5.2.4 on "/"-separated segments. A ".." at the root is dropped, as the RFC says, and
    /// reported in `climbedAboveRoot` so callers can refuse instead (see `normalize`).
    public static func removeDotSegments(_ path: String) -> (path: String, climbedAboveRoot: Bool) {
        guard path.contains(".") else { return (path, false) }
        let absolute = path.hasPrefix("/")
        var output: [Substring] = []
        var climbed = false
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if index == 0 && absolute { continue }  // the empty segment before the leading "/"
            let isLast = index == segments.count - 1
            switch segment {
            case ".":
                if isLast { output.append("") }
            case "..":
                if output.isEmpty { climbed = true } else { output.removeLast() }
                if isLast { output.append("") }
            default:
                output.append(segment)
            }
        }
        return ((absolute ? "/" : "") + output.joined(separator: "/"), climbed)
    }
}
