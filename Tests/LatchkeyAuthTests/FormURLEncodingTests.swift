import LatchkeyAuth
import LatchkeyConfig
import Testing

@Suite struct FormURLEncodingTests {
    @Test func reservedCharactersArePercentEncodedAndSpaceIsPlus() {
        #expect(FormURLEncoding.encode("a b+c&d=e%f:g/é") == "a+b%2Bc%26d%3De%25f%3Ag%2F%C3%A9")
        #expect(FormURLEncoding.encode("AZaz09-._*~!'()") == "AZaz09-._*%7E%21%27%28%29")
        #expect(FormURLEncoding.encode([("grant_type", "client_credentials"), ("scope", "read write")])
            == "grant_type=client_credentials&scope=read+write")
    }

    @Test func basicHeaderEncodesIDAndSecretBeforeBase64() {
        // RFC 6749 §2.3.1: form-urlencode each, join with ":", then base64.
        let header = TokenRequestBuilder.basicAuthorization(clientID: "a b+c&d=e%f:g/é", secret: "s3cr:t é")
        let expected = "a+b%2Bc%26d%3De%25f%3Ag%2F%C3%A9:s3cr%3At+%C3%A9"
        #expect(header == "Basic " + Base64.encode(Array(expected.utf8)))
        let decoded = Base64.decode(String(header.dropFirst(6))).map { String(decoding: $0, as: UTF8.self) }
        #expect(decoded == expected)
    }
}
