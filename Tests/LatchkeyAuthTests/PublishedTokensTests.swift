import LatchkeyConfig
import Testing

@testable import LatchkeyAuth

/// The tokens `currentCredential` reads on every request: the connection's own key in a slot of its own,
/// keys with overrides in a dictionary; each key finds only its own token.
@Suite struct PublishedTokensTests {
    typealias Published = OAuthTokenManager.PublishedToken

    static func token(_ value: String) -> Published {
        Published(credential: InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer \(value)")), usableUntil: nil)
    }

    @Test func eachKeyFindsItsOwnToken() {
        var tokens = OAuthTokenManager.PublishedTokens()
        let scoped = CredentialKey(scopes: ["orders.read"])
        let audience = CredentialKey(audience: "https://api.example")
        let params = CredentialKey(tokenParams: ["resource": "x"])
        #expect(tokens[.connectionDefault] == nil && tokens[scoped] == nil)

        tokens[.connectionDefault] = Self.token("default")
        tokens[scoped] = Self.token("scoped")
        tokens[audience] = Self.token("audience")
        tokens[params] = Self.token("params")
        #expect(tokens[.connectionDefault]?.credential == Self.token("default").credential)
        #expect(tokens[CredentialKey()]?.credential == Self.token("default").credential)  // equal to the default
        #expect(tokens[scoped]?.credential == Self.token("scoped").credential)
        #expect(tokens[audience]?.credential == Self.token("audience").credential)
        #expect(tokens[params]?.credential == Self.token("params").credential)
        // An empty override is an override, not the connection's own key.
        #expect(tokens[CredentialKey(scopes: [])] == nil)

        tokens[.connectionDefault] = nil
        #expect(tokens[.connectionDefault] == nil && tokens[scoped] != nil)
        tokens[.connectionDefault] = Self.token("again")
        tokens.removeAll()
        #expect(tokens[.connectionDefault] == nil && tokens[scoped] == nil && tokens[audience] == nil)
    }

    @Test func onlyAKeyWithoutOverridesIsTheConnectionDefault() {
        #expect(CredentialKey.connectionDefault.isConnectionDefault)
        #expect(CredentialKey().isConnectionDefault)
        #expect(!CredentialKey(scopes: []).isConnectionDefault)
        #expect(!CredentialKey(audience: "").isConnectionDefault)
        #expect(!CredentialKey(tokenParams: [:]).isConnectionDefault)
    }
}
