import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyAuth

/// The credential a request gets: its prepared field is the header it stands for, and nothing that
/// prints or reflects it shows the value.
@Suite struct InjectedCredentialTests {
    private static let token = "tok-5e1f0c7a9b2d4e68"

    @Test func itsPreparedFieldIsTheHeaderAndReplacesTheClientsOwn() {
        let credential = InjectedCredential(headerName: "X-API-Key", headerValue: SecretString(Self.token))
        #expect(credential.field.name == "X-API-Key")
        #expect(credential.field.value == Self.token)
        var headers: HTTPHeaders = ["x-api-key": "from-the-client", "Accept": "*/*"]
        headers.add(name: "X-Api-Key", value: "another")
        headers.replaceOrAdd(credential.field)
        #expect(headers.values(for: "X-API-Key") == [Self.token])
        #expect(headers.name(at: 0) == "X-API-Key", "at the first one's place")
    }

    @Test func printingDumpingOrReflectingNeverShowsTheValue() {
        let credential = InjectedCredential(
            headerName: "Authorization", headerValue: SecretString(AuthScheme.bearer(Self.token)))
        var dumped = ""
        dump(credential, to: &dumped)
        for text in ["\(credential)", String(reflecting: credential), dumped] {
            #expect(!text.contains(Self.token), "\(text)")
            #expect(!text.contains("116, 111, 107"), "the token's bytes")  // "tok"
        }
        #expect(dumped.contains("Authorization"))
    }

    @Test func equalityIsByNameAndValue() {
        let a = InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a"))
        #expect(a == InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a")))
        #expect(a != InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer b")))
        #expect(a != InjectedCredential(headerName: "X-Authorization", headerValue: SecretString("Bearer a")))
    }
}
