import Testing

@testable import LatchkeyConfig

@Suite struct ConfigSummaryTests {
    @Test func listsListenersConnectionsRoutesAndWarnings() throws {
        let config = try ConfigLoader.load(
            path: Fixture.path("full.yaml"), scrubber: SecretScrubber(),
            environment: ["PARTNER_PASSWORD": "pw-partner", "STRIPE_TOKEN": "tok-stripe", "ENVIRONMENT_NAME": "prod"])
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("listen:    [::1]:0"))
        #expect(summary.contains("admin:     off"))
        #expect(summary.contains("unmatched: deny"))
        #expect(summary.contains("partner [basic] username=svc password=<secret>"))
        #expect(summary.contains("weather [api_key] header=X-API-Key scheme=none key=<secret>"))
        #expect(summary.contains("gogift [oauth2_client_credentials] token_url=https://auth.gogift.example/oauth/token client_id=latchkey-prod client_auth=client_secret_post scopes=orders.read orders.write"))
        #expect(summary.contains("partner-v2 (line 30): host=api.partner.example:8443 path_prefix=/v2/ methods=GET,POST -> connection=partner upstream=https://api.partner.example:8443/base timeout=1000ms connect_timeout=500ms"))
        #expect(summary.contains("route-3 (line 42): host=*any* path_prefix=/gogift -> connection=gogift upstream=http://127.0.0.1:9000 strip_prefix"))
        #expect(summary.contains("Warnings (1):"))
        for secret in ["pw-partner", "tok-stripe", "weather-key-from-file", "gogift-client-secret-literal"] {
            #expect(!summary.contains(secret))
        }
    }
}
