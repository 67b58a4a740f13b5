import COpenSSL

/// How revocation messages name a certificate: "CN=api.example, serial 1F" (subject without the
/// leading slash, serial in hex as `openssl x509 -serial` prints it), and its CRL distribution points.
enum CertificateLabel {
    /// "CN=api.example, O=Example, serial 1F".
    static func describe(_ certificate: OpaquePointer) -> String {
        "\(describeName(X509_get_subject_name(certificate))), serial \(serialHex(certificate))"
    }

    /// The serial number in upper-case hex, or "?".
    static func serialHex(_ certificate: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(certificate), let number = ASN1_INTEGER_to_BN(serial, nil) else {
            return "?"
        }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "?" }
        defer { latchkey_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// The `http://` URLs of the certificate's CRL distribution points, in order (other schemes, such as
    /// `ldap://`, are ignored: we only fetch over HTTP).
    static func httpDistributionPoints(_ certificate: OpaquePointer) -> [String] {
        guard let joined = latchkey_crl_distribution_http_uris(certificate) else { return [] }
        defer { free(joined) }
        return String(cString: joined).split(separator: "\n").map(String.init).filter {
            $0.lowercased().hasPrefix("http://")
        }
    }
}

extension CertificateLabel {
    /// "CN=Example CA, O=Example" for a name.
    static func describeName(_ name: OpaquePointer?) -> String {
        var line = X509Certificate.oneLine(name)
        if line.hasPrefix("/") { line.removeFirst() }
        return line.split(separator: "/").joined(separator: ", ")
    }
}
