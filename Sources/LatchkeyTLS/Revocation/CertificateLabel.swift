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
    /// A URI with a byte no URI may hold (a space, a control character, non-ASCII) is skipped too.
    /// At most `limit` are returned: the first ones.
    static func httpDistributionPoints(_ certificate: OpaquePointer, limit: Int = .max) -> [String] {
        guard let extensionValue = X509_get_ext_d2i(certificate, NID_crl_distribution_points, nil, nil) else {
            return []
        }
        let points = OpaquePointer(extensionValue)
        defer { CRL_DIST_POINTS_free(points) }
        var urls: [String] = []
        var point: Int32 = 0
        var name: Int32 = 0
        while urls.count < limit, let uri = latchkey_next_crl_distribution_uri(points, &point, &name) {
            let bytes = UnsafeBufferPointer(start: ASN1_STRING_get0_data(uri), count: Int(ASN1_STRING_length(uri)))
            guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { continue }
            let url = String(decoding: bytes, as: UTF8.self)
            if url.lowercased().hasPrefix("http://") { urls.append(url) }
        }
        return urls
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
