import Foundation
import LatchkeyAuth
import LatchkeyConfig
import Logging
import LatchkeyHTTP
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Opt-in interop check against the real Authlib server (Tests/EndToEnd/peers/oauth_server.py).
/// Set LATCHKEY_OAUTH_SERVER=http://127.0.0.1:PORT (clients app1:secret1, svc-ec / svc-rsa with the
/// public halves of LATCHKEY_OAUTH_EC_KEY / LATCHKEY_OAUTH_RSA_KEY private PEM files). Skipped otherwise.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["LATCHKEY_OAUTH_SERVER"] != nil))
struct AuthlibInteropTests {
    let env = ProcessInfo.processInfo.environment

    /// A test-only HTTP client over URLSession (the proxy provides the real one).
    struct URLSessionTokenClient: TokenEndpointClient {
        func send(_ request: TokenEndpointRequest, completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void) {
            var urlRequest = URLRequest(url: URL(string: request.url.description)!)
            urlRequest.httpMethod = request.method
            for (name, value) in request.headers { urlRequest.addValue(value, forHTTPHeaderField: name) }
            if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
            URLSession.shared.dataTask(with: urlRequest) { data, response, error in
                guard let http = response as? HTTPURLResponse else {
                    return completion(.failure(NetworkFailure(reason: error.map { "\($0)" } ?? "no response")))
                }
                completion(.success(TokenEndpointResponse(status: http.statusCode, headers: [], body: Array(data ?? Data()))))
            }.resume()
        }
    }

    func check(_ settings: OAuthClientSettings) async -> Result<OAuthCheckResult, CredentialError> {
        let manager = OAuthTokenManager(
            name: "authlib", settings: settings, client: URLSessionTokenClient(), scrubber: SecretScrubber(),
            logger: Logger(label: "interop"))
        return await withCheckedContinuation { c in manager.check { c.resume(returning: $0) } }
    }

    var base: EndpointURL { Discovery.parseURL(env["LATCHKEY_OAUTH_SERVER"]!)! }
    var tokenURL: EndpointURL { var u = base; u.path = "/oauth/token"; return u }

    @Test(arguments: [OAuthClientAuthMethod.clientSecretBasic, .clientSecretPost])
    func clientSecret(method: OAuthClientAuthMethod) async throws {
        let settings = OAuthClientSettings(
            tokenURL: tokenURL, clientID: "app1", clientSecret: ReloadableSecret(initial: SecretString("secret1")), clientAuth: method,
            scopes: ["read"], tokenHeaders: [("X-Tenant", "t1")])
        let result = try await check(settings).get()
        #expect(result.grantedScope == "read")
        var wrong = settings
        wrong.clientSecret = ReloadableSecret(initial: SecretString("nope"))
        guard case .failure(let error) = await check(wrong) else { return #expect(Bool(false)) }
        #expect(error.code == .providerError && error.detail.hasPrefix("invalid_client"))
    }

    @Test(arguments: [("svc-ec", JWTSigningAlgorithm.es256), ("svc-rsa", .rs256), ("svc-rsa", .ps256)])
    func privateKeyJWTWithDiscovery(client: String, algorithm: JWTSigningAlgorithm) async throws {
        let path = try #require(env[algorithm == .es256 ? "LATCHKEY_OAUTH_EC_KEY" : "LATCHKEY_OAUTH_RSA_KEY"])
        let pem = try String(contentsOfFile: path, encoding: .utf8)
        let settings = OAuthClientSettings(
            discoveryURL: base, clientID: client, clientAuth: .privateKeyJWT, privateKey: ReloadableSecret(initial: SecretString(pem)),
            keyID: "k1", signingAlgorithm: algorithm, scopes: ["read"])
        let result = try await check(settings).get()
        #expect(result.tokenURL == tokenURL)
        #expect(result.expiresIn != nil)
    }
}
