import LatchkeyHTTP
import Testing

@Suite struct RequestPathTests {
    /// RFC 3986 §5.4.1 and §5.4.2, base `http://a/b/c/d;p?q`: the merged path of each reference (§5.2.3)
    /// and the path §5.2.4 leaves. Abnormal examples that climb above the root are marked.
    @Test(arguments: [
        ("/b/c/g", "/b/c/g", false),  // "g"
        ("/b/c/./g", "/b/c/g", false),  // "./g"
        ("/b/c/g/", "/b/c/g/", false),  // "g/"
        ("/b/c/.", "/b/c/", false),  // "."
        ("/b/c/./", "/b/c/", false),  // "./"
        ("/b/c/..", "/b/", false),  // ".."
        ("/b/c/../", "/b/", false),  // "../"
        ("/b/c/../g", "/b/g", false),  // "../g"
        ("/b/c/../..", "/", false),  // "../.."
        ("/b/c/../../", "/", false),  // "../../"
        ("/b/c/../../g", "/g", false),  // "../../g"
        ("/b/c/../../../g", "/g", true),  // "../../../g" (abnormal)
        ("/b/c/../../../../g", "/g", true),  // "../../../../g" (abnormal)
        ("/./g", "/g", false),  // "/./g"
        ("/../g", "/g", true),  // "/../g" (abnormal)
        ("/b/c/g.", "/b/c/g.", false),
        ("/b/c/.g", "/b/c/.g", false),
        ("/b/c/g..", "/b/c/g..", false),
        ("/b/c/..g", "/b/c/..g", false),
        ("/b/c/./../g", "/b/g", false),  // "./../g"
        ("/b/c/./g/.", "/b/c/g/", false),  // "./g/."
        ("/b/c/g/./h", "/b/c/g/h", false),  // "g/./h"
        ("/b/c/g/../h", "/b/c/h", false),  // "g/../h"
        ("/b/c/g;x=1/./y", "/b/c/g;x=1/y", false),  // "g;x=1/./y"
        ("/b/c/g;x=1/../y", "/b/c/y", false),  // "g;x=1/../y"
        ("/a/b/c/./../../g", "/a/g", false),  // §5.2.4's own example
    ])
    func removesDotSegmentsAsRFC3986(_ merged: String, _ expected: String, _ climbs: Bool) {
        let result = RequestPath.removeDotSegments(merged)
        #expect(result.path == expected)
        #expect(result.climbedAboveRoot == climbs)
    }

    @Test(arguments: [
        ("/", "/"),
        ("/ro/x", "/ro/x"),
        ("/ro/../admin/delete", "/admin/delete"),
        ("/ro/./x", "/ro/x"),
        ("/ro/x/..", "/ro/"),
        ("/a/..b/.c", "/a/..b/.c"),
        ("/ro/../x?next=/../../etc&p=%2e%2e", "/x?next=/../../etc&p=%2e%2e"),  // the query is never touched
        ("/x?%2f", "/x?%2f"),
        ("/a%20b/%41", "/a%20b/%41"),  // other encodings are left alone
        ("/a;v=1/..b;x/...;y", "/a;v=1/..b;x/...;y"),  // parameters on ordinary segments are fine
        // An encoded '/' or '\' is data inside a segment (GitLab, npm scoped packages), as long as decoding it
        // reveals no dot-segment.
        ("/api/v4/projects/group%2Fproject", "/api/v4/projects/group%2Fproject"),
        ("/npm/@scope%2fname", "/npm/@scope%2fname"),
        ("/p/group%2Fmy.project%2F.hidden%2F...x", "/p/group%2Fmy.project%2F.hidden%2F...x"),
        ("/a%5cb", "/a%5cb"),
        ("/a/../group%2Fproject", "/group%2Fproject"),
        // No ".", "%" or "\\" before the query: the quick pass alone decides.
        ("/v1/customers/cus_123;v=2/invoices", "/v1/customers/cus_123;v=2/invoices"),
        ("/x?a/../b\\c%2e", "/x?a/../b\\c%2e"),
    ])
    func normalizes(_ input: String, _ expected: String) throws {
        #expect(try RequestPath.normalize(input) == expected)
    }

    @Test(arguments: [
        ("/bear/%2e%2e/x", RequestPath.Refusal.encodedDelimiter),
        ("/bear/%2E%2E/x", .encodedDelimiter),
        ("/bear/.%2e/x", .encodedDelimiter),
        ("/a/..%2fb", .encodedDelimiter),
        ("/a/x%2F..", .encodedDelimiter),
        ("/a/x%2f../b", .encodedDelimiter),
        ("/a/x%2f.%2fb", .encodedDelimiter),
        ("/a%5C..%5Cb", .encodedDelimiter),
        ("/a/x%5c..;/b", .dotSegmentWithParameters),
        ("/a\\..\\b", .backslash),
        ("/plain\\path", .backslash),
        ("/..", .aboveRoot),
        ("/../admin", .aboveRoot),
        ("/ro/../../admin", .aboveRoot),
        ("/ro/..;/admin", .dotSegmentWithParameters),
        ("/ro/.;x/admin", .dotSegmentWithParameters),
        ("/ro/..;", .dotSegmentWithParameters),
    ])
    func refuses(_ input: String, _ refusal: RequestPath.Refusal) {
        #expect(throws: refusal) { try RequestPath.normalize(input) }
    }
}
