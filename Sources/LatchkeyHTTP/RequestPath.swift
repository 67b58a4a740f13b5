/// The one normalisation of a request path, applied to every request form (origin and absolute) before
/// routing and forwarding, so that the path a route matched is the path the upstream receives.
///
/// Rules, on the path part only (the query, from the first "?", is never touched):
/// 1. Dot-segments are removed (RFC 3986 §5.2.4): `/ro/../admin` becomes `/admin`, `/a/./b` becomes `/a/b`.
/// 2. A path that would climb above the root (`/..`, `/a/../../b`) is refused rather than clamped to "/".
///    RFC 3986 §5.2.4 clamps, but a client that names a resource above the root is probing or broken; for a
///    proxy that injects credentials no request whose meaning depends on who normalises it may go upstream.
/// 3. Percent-encoded ".", "/" and "\" (`%2e`, `%2f`, `%5c`, any case) are refused: an upstream or CDN that
///    decodes them would see segments (or dot-segments) the router never saw. "." is unreserved and never
///    needs encoding (RFC 3986 §2.3); an encoded "/" is ambiguous by design (§2.2).
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
                "the path contains a percent-encoded '.', '/' or '\\' (%2e, %2f, %5c), which the proxy does not forward"
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
        var needsRewrite = false
        var twoBack: UInt8 = 0
        var oneBack: UInt8 = 0
        var dots = 0  // dots so far in the current segment while it holds only dots, else -1
        for byte in pathAndQuery.utf8 {
            if byte == UInt8(ascii: "?") { break }
            if byte == UInt8(ascii: "\\") { throw .backslash }
            if twoBack == UInt8(ascii: "%") {
                let low = byte | 0x20
                if (oneBack == UInt8(ascii: "2") && (low == UInt8(ascii: "e") || low == UInt8(ascii: "f")))
                    || (oneBack == UInt8(ascii: "5") && low == UInt8(ascii: "c"))
                {
                    throw .encodedDelimiter
                }
            }
            twoBack = oneBack
            oneBack = byte
            if byte == UInt8(ascii: "/") {
                if dots == 1 || dots == 2 { needsRewrite = true }
                dots = 0
            } else if byte == UInt8(ascii: ";"), dots == 1 || dots == 2 {
                throw .dotSegmentWithParameters
            } else if dots >= 0 {
                dots = byte == UInt8(ascii: ".") ? dots + 1 : -1
            }
        }
        if dots == 1 || dots == 2 { needsRewrite = true }
        guard needsRewrite else { return pathAndQuery }
        let query = pathAndQuery.firstIndex(of: "?")
        let path = query.map { String(pathAndQuery[..<$0]) } ?? pathAndQuery
        let result = removeDotSegments(path)
        guard !result.climbedAboveRoot else { throw .aboveRoot }
        return result.path + (query.map { String(pathAndQuery[$0...]) } ?? "")
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
