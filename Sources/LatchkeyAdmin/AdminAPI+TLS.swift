import LatchkeyConfig
import LatchkeyProxy

extension AdminAPI {
    /// `GET /routes`: each route in file order with what it matches, where it goes and its effective TLS policy
    /// (after the top-level `tls:` defaults). Never a secret: names, hosts, URLs and file paths only.
    func routes() -> Response {
        let items = server.runtime.routesInFileOrder.map { route in
            let settings = route.settings
            var fields = ["\"name\":\(JSONString.quote(settings.name))"]
            if let host = settings.host { fields.append("\"host\":\(JSONString.quote("\(host)"))") }
            if let prefix = settings.pathPrefix { fields.append("\"path_prefix\":\(JSONString.quote(prefix))") }
            if let upstream = settings.upstream { fields.append("\"upstream\":\(JSONString.quote(upstream.description))") }
            if let connection = settings.connection { fields.append("\"connection\":\(JSONString.quote(connection))") }
            fields.append("\"tls\":\(tlsJSON(settings.tls, revocationScope: settings.name))")
            return "{" + fields.joined(separator: ",") + "}"
        }
        return Response(status: 200, body: "{\"routes\":[\(items.joined(separator: ","))]}\n")
    }

    /// The effective TLS settings as a JSON object: `TLSSettings.policyFields`, then the files and overrides that
    /// are set. The one place the admin API shows TLS (routes and OAuth connections' token endpoints).
    ///
    /// With `revocation` on, `revocation_results` lists the last result per upstream server name for
    /// `revocationScope` (the route name, or `connection:NAME`): result, certificate, reason, source, time.
    func tlsJSON(_ tls: TLSSettings, revocationScope: String) -> String {
        var json = Self.tlsJSON(tls)
        guard tls.revocation != .off else { return json }
        let results = server.runtime.revocation.board.entries(for: revocationScope).map { entry in
            let report = entry.report
            return "{\"server_name\":\(JSONString.quote(report.serverName)),\"result\":\"\(report.result.rawValue)\","
                + "\"certificate\":\(JSONString.quote(report.certificate)),\"reason\":\(JSONString.quote(report.reason)),"
                + "\"source\":\"\(report.source)\",\"refused\":\(report.failedHandshake),\"at\":\(entry.at)}"
        }
        json.removeLast()
        json += ",\"revocation_results\":[\(results.joined(separator: ","))]}"
        return json
    }

    static func tlsJSON(_ tls: TLSSettings) -> String {
        var fields = tls.policyFields.map { "\(JSONString.quote($0.key)):\(JSONString.quote($0.value))" }
        let optional: [(String, String?)] = [
            ("ca_file", tls.caFile), ("cert_file", tls.certFile), ("key_file", tls.keyFile),
            ("server_name", tls.serverName),
        ]
        for (key, value) in optional { if let value { fields.append("\"\(key)\":\(JSONString.quote(value))") } }
        if tls.insecureSkipVerify { fields.append("\"insecure_skip_verify\":true") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
