/// What `latchkey ca init` prints once the CA is written: where it is, the config block, and how each
/// common runtime is made to trust it (docs/interception.md has the long form).
enum CATrustInstructions {
    static func render(
        certificatePath crt: String, keyPath key: String, commonName: String, days: Int, fingerprint: String
    )
        -> String
    {
        let years = days % 365 == 0 ? "\(days / 365) years" : "about \(days / 365) years"
        let bundle = "/etc/ssl/certs/ca-certificates.crt"
        return """
            Made the interception CA "\(commonName)" (EC P-256, CA:TRUE pathlen 0, valid \(days) days, \(years)):
              certificate  \(crt)  (0644: give it to the apps)
              key          \(key)  (0600: only the proxy reads it; never put it in an app's image)
              SHA-256 fingerprint \(fingerprint)

            Add to the proxy config:
              intercept:
                ca_cert: \(crt)
                ca_key: \(key)

            Make apps trust it, then let them call https:// URLs with HTTPS_PROXY=http://127.0.0.1:3128:
              curl      curl --cacert \(crt) -x http://127.0.0.1:3128 https://api.example/   (or CURL_CA_BUNDLE=\(crt))
              Python    REQUESTS_CA_BUNDLE=<bundle> (requests); SSL_CERT_FILE=<bundle> (httpx, urllib, aiohttp)
              Node      NODE_EXTRA_CA_CERTS=\(crt)   (added to Node's own roots)
              Go        SSL_CERT_FILE=<bundle>
              Java      cp "$JAVA_HOME/lib/security/cacerts" latchkey-cacerts
                        keytool -importcert -noprompt -alias latchkey-ca -file \(crt) \\
                          -keystore latchkey-cacerts -storepass changeit
                        JAVA_TOOL_OPTIONS="-Djavax.net.ssl.trustStore=$PWD/latchkey-cacerts \\
                          -Djavax.net.ssl.trustStorePassword=changeit \\
                          -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=3128"   (Java ignores HTTPS_PROXY)
              .NET      the system store on Linux (below), or SSL_CERT_FILE=<bundle>
              Debian/Ubuntu system store (curl, Python's ssl, Go, .NET, ... all at once):
                        sudo cp \(crt) /usr/local/share/ca-certificates/latchkey-ca.crt && sudo update-ca-certificates
            <bundle>: these variables replace the default roots, so give them the system roots plus this CA when
            the app also reaches hosts that are not intercepted: cat \(bundle) \(crt) > latchkey-bundle.pem
            Clients that pin certificates cannot be intercepted: give their route `intercept: false`.
            More: docs/interception.md
            """
    }
}
