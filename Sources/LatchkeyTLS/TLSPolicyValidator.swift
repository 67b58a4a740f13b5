import COpenSSL

/// Cipher, TLS 1.3 suite and group lists in OpenSSL syntax: checked on a scratch `SSL_CTX` at config load
/// (so a typo is an error at its line, not a handshake failure later) and applied to real contexts.
///
/// OpenSSL is lenient in ways that would hide typos: `SSL_CTX_set_cipher_list` accepts a list as long as one
/// entry matches, and `SSL_CTX_set_ciphersuites` skips unknown names. So each entry is also tried on its own.
public enum TLSPolicyValidator {
    /// Why OpenSSL rejects `list` as a TLS 1.2 cipher list, or nil when every entry names ciphers.
    public static func problem(cipherList list: String) -> String? {
        withScratchContext { context in
            ERR_clear_error()
            guard SSL_CTX_set_cipher_list(context, list) == 1 else {
                return "OpenSSL rejects the cipher list: \(reasons())"
            }
            for entry in entries(list) {
                // `!X`, `-X`, `+X` remove or move ciphers; `@STRENGTH`, `@SECLEVEL=n` are commands: the names
                // after the sign must still exist.
                guard !entry.hasPrefix("@") else { continue }
                let name = entry.first.map { "!-+".contains($0) } == true ? String(entry.dropFirst()) : entry
                ERR_clear_error()
                if SSL_CTX_set_cipher_list(context, name) != 1 {
                    ERR_clear_error()
                    return "no cipher or alias named '\(name)' (see `openssl ciphers -v`)"
                }
            }
            return nil
        }
    }

    /// Why OpenSSL rejects `list` as TLS 1.3 cipher suites, or nil when it knows every suite named.
    public static func problem(cipherSuites list: String) -> String? {
        withScratchContext { context in
            ERR_clear_error()
            guard SSL_CTX_set_ciphersuites(context, list) == 1 else {
                return "OpenSSL rejects the cipher suites: \(reasons())"
            }
            let known = enabledCipherNames(context)
            for name in entries(list) where !known.contains(name) {
                return "no TLS 1.3 cipher suite named '\(name)' (known: \(tls13SuiteNames().joined(separator: ", ")))"
            }
            return nil
        }
    }

    /// Why OpenSSL rejects `list` as a group list, or nil.
    public static func problem(groups list: String) -> String? {
        withScratchContext { context in
            for name in entries(list) {
                ERR_clear_error()
                if latchkey_SSL_CTX_set1_groups_list(context, name) != 1 {
                    ERR_clear_error()
                    return "no curve or group named '\(name)' (names such as X25519, P-256, P-384, X448, ffdhe2048)"
                }
            }
            ERR_clear_error()
            guard latchkey_SSL_CTX_set1_groups_list(context, list) == 1 else {
                return "OpenSSL rejects the curve list: \(reasons())"
            }
            return nil
        }
    }

    /// Applies the non-nil lists to `context`; throws `.configuration` naming the list OpenSSL refused.
    static func apply(_ context: OpaquePointer, cipherList: String?, cipherSuites: String?, groups: String?)
        throws(TLSError)
    {
        if let cipherList {
            ERR_clear_error()
            guard SSL_CTX_set_cipher_list(context, cipherList) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot use cipher list '\(cipherList)'")
            }
        }
        if let cipherSuites {
            ERR_clear_error()
            guard SSL_CTX_set_ciphersuites(context, cipherSuites) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot use TLS 1.3 cipher suites '\(cipherSuites)'")
            }
        }
        if let groups {
            ERR_clear_error()
            guard latchkey_SSL_CTX_set1_groups_list(context, groups) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot use curves '\(groups)'")
            }
        }
    }

    /// OpenSSL's separators are ':' (also ',' and ' ' in cipher lists).
    private static func entries(_ list: String) -> [String] {
        list.split(whereSeparator: { $0 == ":" || $0 == "," || $0 == " " }).map(String.init)
    }

    private static func withScratchContext(_ body: (OpaquePointer) -> String?) -> String? {
        guard let context = SSL_CTX_new(TLS_client_method()) else { return "cannot create a TLS context" }
        defer { SSL_CTX_free(context) }
        return body(context)
    }

    private static func enabledCipherNames(_ context: OpaquePointer) -> Set<String> {
        guard let stack = SSL_CTX_get_ciphers(context) else { return [] }
        var names = Set<String>()
        for index in 0..<latchkey_sk_SSL_CIPHER_num(stack) {
            if let cipher = latchkey_sk_SSL_CIPHER_value(stack, index), let name = SSL_CIPHER_get_name(cipher) {
                names.insert(String(cString: name))
            }
        }
        return names
    }

    /// Every TLS 1.3 suite this OpenSSL knows, for the message.
    private static func tls13SuiteNames() -> [String] {
        let all = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
        return withScratchContext { context in
            _ = SSL_CTX_set_ciphersuites(context, all)
            let known = enabledCipherNames(context)
            return entries(all).filter { known.contains($0) }.joined(separator: ":")
        }.map(entries) ?? []
    }

    private static func reasons() -> String { OpenSSLErrorQueue.drain().joined(separator: "; ") }
}
