import Foundation

/// An access token as stored for every replica: the token plus wall-clock times (replicas share no
/// monotonic clock). Only ever written to the store sealed (`SharedRecordSealer`).
struct SharedTokenRecord: Codable, Sendable, Equatable {
    var accessToken: String
    /// Unix seconds when the token was obtained and when it expires (nil: no known expiry).
    var issuedAt: Double
    var expiresAt: Double?
    var scope: String?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
        case scope
    }

    init(grant: TokenGrant, issuedAt: Double) {
        accessToken = grant.accessToken
        self.issuedAt = issuedAt
        expiresAt = grant.expiresIn.map { issuedAt + $0.seconds }
        scope = grant.scope
    }

    /// The record as a grant obtained now: `expires_in` is what is left of its lifetime.
    func grant(now: Double) -> TokenGrant {
        TokenGrant(accessToken: accessToken, expiresIn: expiresAt.map { .milliseconds(Int64(max(0, $0 - now) * 1000)) }, scope: scope)
    }

    /// Fresh: in the first half of its life, before any replica's renewal can be due (a renewal never
    /// comes before half the lifetime, `RefreshSchedule`). A replica renewing finds a fresh record only
    /// when another replica renewed first, and takes it instead of asking the provider again.
    func isFresh(now: Double) -> Bool {
        guard let expiresAt else { return true }
        return now < issuedAt + (expiresAt - issuedAt) / 2
    }

    /// Still worth injecting: more than `margin` seconds left.
    func isUsable(now: Double, margin: Double) -> Bool {
        guard let expiresAt else { return true }
        return now + margin < expiresAt
    }
}

/// Seals and opens store values with `state_key` (AES-256-GCM). Layout: `"LKR1"` · 12-byte random nonce ·
/// ciphertext · 16-byte tag; the associated data is the magic plus the value's key in the store (which
/// names the connection and the cache key), so a value moved to another key fails to open.
public struct SharedRecordSealer: Sendable {
    static let magic: [UInt8] = Array("LKR1".utf8)
    private let key: [UInt8]

    /// `key` is `state_key` decoded (32 bytes).
    public init?(key: [UInt8]) {
        guard key.count == AESGCM.keySize else { return nil }
        self.key = key
    }

    /// `state_key` as configured (base64 of 32 bytes).
    public init?(keyBase64: String) {
        guard let bytes = Base64.decode(keyBase64.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        self.init(key: bytes)
    }

    func seal(_ plaintext: [UInt8], storeKey: String) throws(CryptoError) -> [UInt8] {
        let nonce = try SecureRandom.bytes(AESGCM.nonceSize)
        let (ciphertext, tag) = try AESGCM.seal(plaintext, key: key, nonce: nonce, aad: Self.magic + Array(storeKey.utf8))
        return Self.magic + nonce + ciphertext + tag
    }

    func open(_ sealed: [UInt8], storeKey: String) throws(CryptoError) -> [UInt8] {
        let overhead = Self.magic.count + AESGCM.nonceSize + AESGCM.tagSize
        guard sealed.count >= overhead, Array(sealed.prefix(4)) == Self.magic else { throw CryptoError("not a Latchkey store record") }
        let nonce = Array(sealed[4..<(4 + AESGCM.nonceSize)])
        let ciphertext = Array(sealed[(4 + AESGCM.nonceSize)..<(sealed.count - AESGCM.tagSize)])
        let tag = Array(sealed.suffix(AESGCM.tagSize))
        return try AESGCM.open(ciphertext, tag: tag, key: key, nonce: nonce, aad: Self.magic + Array(storeKey.utf8))
    }

    func sealRecord<T: Encodable>(_ record: T, storeKey: String) throws(CryptoError) -> [UInt8] {
        let json: Data
        do { json = try JSONEncoder().encode(record) } catch { throw CryptoError("cannot encode the record") }
        return try seal(Array(json), storeKey: storeKey)
    }

    func openRecord<T: Decodable>(_ sealed: [UInt8], as type: T.Type, storeKey: String) throws(CryptoError) -> T {
        let plain = try open(sealed, storeKey: storeKey)
        do { return try JSONDecoder().decode(type, from: Data(plain)) } catch { throw CryptoError("the record does not decode") }
    }
}
