import LatchkeyConfig
import LatchkeyTLS

extension InterceptionAuthority {
    /// The authority for a configuration's `intercept:` block. What only OpenSSL can find (a key that
    /// does not belong to the certificate, a certificate that is not a CA or has expired, a PEM block
    /// that does not parse) comes back as a `ConfigError` at `ca_key` or `ca_cert`, never quoting key
    /// material (`InterceptionAuthority` errors hold names and OpenSSL reasons only).
    public static func make(
        from settings: InterceptSettings, cacheCapacity: Int = 1024
    ) throws(ConfigErrors) -> InterceptionAuthority {
        do {
            return try InterceptionAuthority(
                certificatePEM: Array(settings.caCertificatePEM.utf8), keyPEM: Array(settings.caKey.value.utf8),
                leafValidity: settings.leafValidity, cacheCapacity: cacheCapacity)
        } catch {
            // The authority names its input in each message: "the CA key ..." (also when the key does
            // not belong to the certificate: the key is what to fix or pick) or "the CA certificate ...".
            let position = error.reason.contains("the CA key") ? settings.caKeyPosition : settings.caCertificatePosition
            throw ConfigErrors(errors: [position.error(error.reason)])
        }
    }
}
