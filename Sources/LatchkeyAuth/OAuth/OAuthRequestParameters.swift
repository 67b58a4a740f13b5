import LatchkeyConfig

/// The token-request parameters for one cache key: the connection's own `scopes`, `audience` and
/// `token_params`, with a route's overrides (`CredentialKey`) applied.
///
/// Merge rule: a route's `scopes` / `audience` replace the connection's; a route's `token_params`
/// replace same-named connection parameters and the rest are appended sorted by name (a dictionary has
/// no file order, and a stable order keeps requests reproducible).
public struct OAuthRequestParameters: Sendable, Equatable {
    public var scopes: [String]
    public var audience: String?
    public var tokenParams: [Pair]

    /// One extra form field (a struct, because tuples are not `Equatable`).
    public struct Pair: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(settings: OAuthClientSettings, key: CredentialKey) {
        scopes = key.scopes ?? settings.scopes
        audience = key.audience ?? settings.audience
        var params = settings.tokenParams.map { Pair($0.0, $0.1) }
        if let overrides = key.tokenParams {
            for index in params.indices {
                if let value = overrides[params[index].name] { params[index].value = value }
            }
            let known = Set(params.map(\.name))
            for name in overrides.keys.sorted() where !known.contains(name) {
                params.append(Pair(name, overrides[name]!))
            }
        }
        tokenParams = params
    }
}
