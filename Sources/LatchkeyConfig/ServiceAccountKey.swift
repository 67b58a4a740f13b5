import Foundation

/// A Google service-account JSON key file (`"type": "service_account"`): the fields the JWT bearer
/// grant needs. Parsing errors never quote the file's content (it holds a private key).
public struct ServiceAccountKey: Sendable {
    /// `client_email`: the assertion's `iss` and `sub`.
    public var clientEmail: String
    /// `private_key`: PEM (PKCS#8); a secret.
    public var privateKey: String
    /// `private_key_id`: the JWT `kid` header.
    public var privateKeyID: String?
    /// `token_uri`: the token endpoint and the assertion's `aud`.
    public var tokenURI: String

    /// Parses the JSON text of a key file; throws a `ValueProblem` naming the missing or bad field.
    static func parse(_ text: String) throws(ValueProblem) -> ServiceAccountKey {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw ValueProblem("service account file is not a JSON object")
        }
        if let type = object["type"] as? String, type != "service_account" {
            throw ValueProblem("service account file has \"type\": \"\(type.prefix(40))\", expected \"service_account\"")
        }
        func field(_ name: String) throws(ValueProblem) -> String {
            guard let value = object[name] as? String, !value.isEmpty else {
                throw ValueProblem("service account file has no \"\(name)\"")
            }
            return value
        }
        return ServiceAccountKey(
            clientEmail: try field("client_email"), privateKey: try field("private_key"),
            privateKeyID: object["private_key_id"] as? String, tokenURI: try field("token_uri"))
    }
}
