import Yams

extension ConfigDecoder {
    static let interceptKeys = ["ca_cert", "ca_key", "leaf_validity"]

    /// `intercept:` — `ca_cert` and `ca_key` are each a file path or PEM text (typically from a
    /// `{{secret:...}}` reference); `leaf_validity` is a duration (`24h`, `90m`, `7d`) within
    /// `InterceptSettings.leafValidityBounds`. Whether the key fits the certificate and the certificate
    /// is a CA is checked when the runtime is built (that needs OpenSSL).
    func decodeIntercept(_ node: Node?) -> InterceptSettings? {
        guard let node, let map = fields(node, path: "intercept", allowed: Self.interceptKeys) else { return nil }
        let certificate = pemInput(map, "ca_cert", kind: "CERTIFICATE", secret: false)
        let key = pemInput(map, "ca_key", kind: "PRIVATE KEY", secret: true)
        var validity = InterceptSettings.defaultLeafValidity
        if let text = string(map, "leaf_validity") {
            if let parsed = Self.duration(text.value) {
                if InterceptSettings.leafValidityBounds.contains(parsed) {
                    validity = parsed
                } else {
                    fail(text.node, text.path, "must be between 1h and 30d (720h), found '\(text.raw)'")
                }
            } else {
                fail(text.node, text.path, "expected a duration such as 24h, 90m or 7d, found '\(text.raw)'")
            }
        }
        guard let certificate, let key, let certificatePosition = position(map, "ca_cert"),
            let keyPosition = position(map, "ca_key")
        else { return nil }
        return InterceptSettings(
            caCertificatePEM: certificate.text, caKey: SecretString(key.text), leafValidity: validity,
            caCertificateFile: certificate.file, caKeyFile: key.file, caCertificatePosition: certificatePosition,
            caKeyPosition: keyPosition)
    }

    /// A required PEM value: inline PEM (it contains `-----BEGIN`), or else a path (relative to the
    /// config file) whose content must be PEM of `kind`. A secret's content is registered as sensitive,
    /// as a whole and line by line, and its file is watched for rotation.
    private func pemInput(_ map: Fields, _ key: String, kind: String, secret: Bool) -> (text: String, file: String?)? {
        guard let text = requiredString(map, key, what: kind == "CERTIFICATE" ? "the CA certificate" : "the CA's key")
        else { return nil }
        var pem = text.value
        var file: String?
        guard readsSecrets else { return ("", pem.contains("-----BEGIN") ? nil : absolutePath(pem)) }
        if !pem.contains("-----BEGIN") {
            let path = absolutePath(pem)
            let shown = text.fromSecret ? "the file (its path comes from a secret)" : "'\(path)'"
            do {
                pem = try fileReader(path)
            } catch {
                fail(text.node, text.path, "cannot read \(shown): \((error as? FileReadError)?.reason ?? "unreadable")")
                return nil
            }
            file = path
            secretFiles.append(path)  // a rotated CA (or key) on disk reloads like any secret file
        }
        if secret { registerSensitive(pem) }
        let source = file.map { text.fromSecret ? "the file (its path comes from a secret)" : "'\($0)'" } ?? "the value"
        guard pem.contains("-----BEGIN") && pem.contains(kind + "-----") else {
            let expected = kind == "CERTIFICATE" ? "CERTIFICATE" : "... PRIVATE KEY"
            fail(text.node, text.path, "\(source) is not PEM (expected -----BEGIN \(expected)-----)")
            return nil
        }
        if secret && pem.contains("ENCRYPTED") {
            fail(
                text.node, text.path,
                "\(source) is an encrypted key; latchkey needs it unencrypted (protect the file: mode 0600, a Secret)")
            return nil
        }
        return (pem, file)
    }

    /// The key as a whole and each line of its body, so a partial copy in some text is scrubbed too.
    private func registerSensitive(_ pem: String) {
        sensitiveValues.insert(pem)
        for line in pem.split(whereSeparator: \.isNewline) where !line.hasPrefix("-----") && line.count >= 16 {
            sensitiveValues.insert(String(line))
        }
    }

    /// "30s", "90m", "24h", "7d" (one unsigned integer and one unit); nil otherwise.
    static func duration(_ text: String) -> Duration? {
        // The first character must be a digit: Int64 alone would also take "+5s".
        guard let unit = text.last, let first = text.first, ("0"..."9").contains(first),
            let number = Int64(text.dropLast()), number >= 0
        else { return nil }
        let seconds: Int64
        switch unit {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86400
        default: return nil
        }
        let (total, overflow) = number.multipliedReportingOverflow(by: seconds)
        return overflow ? nil : .seconds(total)
    }
}
