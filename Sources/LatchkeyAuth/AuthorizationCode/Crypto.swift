import COpenSSL

/// A libcrypto failure (randomness, digest, cipher). The reason names the failing call and the
/// OpenSSL error stack; it never contains key material or plaintext.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }

    /// `call: <OpenSSL error stack>`, clearing the (per-thread) stack.
    static func openSSL(_ call: String) -> CryptoError {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CryptoError(messages.isEmpty ? "\(call) failed" : "\(call): " + messages.joined(separator: "; "))
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    public static func bytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        ERR_clear_error()
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw CryptoError.openSSL("RAND_bytes") }
        return bytes
    }
}

/// Message digests through EVP.
public enum Digest {
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = EVP_Digest(data, data.count, &out, &length, EVP_sha256(), nil)
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")  // cannot fail for SHA-256 in memory
        return out
    }

    /// SHA-1, for protocols that fix it and use it for no security property: the WebSocket handshake's
    /// `Sec-WebSocket-Accept` (RFC 6455 §4.2.2) proves only that the server understood the handshake.
    public static func sha1(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = EVP_Digest(data, data.count, &out, &length, EVP_sha1(), nil)
        precondition(ok == 1 && length == 20, "EVP_Digest(SHA-1) failed")  // cannot fail for SHA-1 in memory
        return out
    }
}
