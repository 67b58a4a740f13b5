import Testing

@testable import LatchkeyMetrics

extension MetricsTests {
    /// Latchkey's own series: names, labels and the typed recording calls the data path uses.
    @Suite struct Latchkey {
        @Test func routeRecordHitsEverySeriesOfTheRoute() {
            let metrics = LatchkeyMetrics(version: "1.2.3")
            let route = metrics.route("partner-api", connection: "partner")
            route.record(status: 204, duration: .milliseconds(3), upstreamDuration: .milliseconds(2), attempts: 1)
            route.record(status: 503, duration: .milliseconds(700), upstreamDuration: .milliseconds(600), attempts: 3)
            route.record(status: 403, duration: .microseconds(40), upstreamDuration: nil, attempts: 0)
            route.recordTLSHandshake(resumed: false)
            route.recordTLSHandshake(resumed: true)
            route.recordTLSHandshake(resumed: true)
            route.recordUnauthorized()
            route.recordUnauthorized()
            let text = metrics.render()
            for line in [
                #"latchkey_requests_total{route="partner-api",connection="partner",status_class="1xx"} 0"#,
                #"latchkey_requests_total{route="partner-api",connection="partner",status_class="2xx"} 1"#,
                #"latchkey_requests_total{route="partner-api",connection="partner",status_class="4xx"} 1"#,
                #"latchkey_requests_total{route="partner-api",connection="partner",status_class="5xx"} 1"#,
                #"latchkey_request_duration_seconds_bucket{route="partner-api",le="0.001"} 1"#,
                #"latchkey_request_duration_seconds_bucket{route="partner-api",le="0.005"} 2"#,
                #"latchkey_request_duration_seconds_bucket{route="partner-api",le="1"} 3"#,
                #"latchkey_request_duration_seconds_sum{route="partner-api"} 0.70304"#,
                #"latchkey_request_duration_seconds_count{route="partner-api"} 3"#,
                #"latchkey_upstream_duration_seconds_bucket{route="partner-api",le="+Inf"} 2"#,
                #"latchkey_upstream_duration_seconds_sum{route="partner-api"} 0.602"#,
                #"latchkey_upstream_attempts_total{route="partner-api"} 4"#,
                #"latchkey_upstream_retries_total{route="partner-api"} 2"#,
                #"latchkey_upstream_tls_handshakes_total{route="partner-api",resumed="false"} 1"#,
                #"latchkey_upstream_tls_handshakes_total{route="partner-api",resumed="true"} 2"#,
                #"latchkey_upstream_unauthorized_total{route="partner-api"} 2"#,
                #"latchkey_build_info{version="1.2.3"} 1"#,
                "latchkey_config_last_reload_success 1",
            ] {
                #expect(text.contains(line + "\n"), "missing \(line)")
            }
        }

        @Test func statusOutsideTheClassesIsClamped() {
            let metrics = LatchkeyMetrics(version: "v")
            let route = metrics.route("r", connection: nil)
            route.record(status: 0, duration: .zero, upstreamDuration: nil, attempts: 0)
            route.record(status: 999, duration: .zero, upstreamDuration: nil, attempts: 0)
            let text = metrics.render()
            #expect(text.contains(#"latchkey_requests_total{route="r",connection="(none)",status_class="1xx"} 1"#))
            #expect(text.contains(#"latchkey_requests_total{route="r",connection="(none)",status_class="5xx"} 1"#))
        }

        @Test func connectionReloadAndGaugeSeries() {
            let metrics = LatchkeyMetrics(version: "v")
            let partner = metrics.connection("partner")
            partner.recordTokenFetch(success: true)
            partner.recordTokenFetch(success: true)
            partner.recordTokenFetch(success: false)
            metrics.setTokenExpiryProvider { ["partner": 1799.5, "other": -2] }
            metrics.setConnectionUpProvider { ["partner": true, "other": false] }
            metrics.recordConfigReload(success: true)
            metrics.recordConfigReload(success: false)
            metrics.clientConnectionsOpen.add(3)
            metrics.upstreamConnectionsOpen.increment()
            let text = metrics.render()
            #expect(
                text.contains(
                    """
                    # HELP latchkey_token_fetches_total Token endpoint requests, by connection and result.
                    # TYPE latchkey_token_fetches_total counter
                    latchkey_token_fetches_total{connection="partner",result="failure"} 1
                    latchkey_token_fetches_total{connection="partner",result="success"} 2
                    # HELP latchkey_token_expiry_seconds Seconds until the cached token expires.
                    # TYPE latchkey_token_expiry_seconds gauge
                    latchkey_token_expiry_seconds{connection="other"} -2
                    latchkey_token_expiry_seconds{connection="partner"} 1799.5
                    # HELP latchkey_connection_up 1 if the connection can put a credential on a request now (fixed, or a usable token), else 0.
                    # TYPE latchkey_connection_up gauge
                    latchkey_connection_up{connection="other"} 0
                    latchkey_connection_up{connection="partner"} 1
                    # HELP latchkey_client_connections_open Open client connections.
                    # TYPE latchkey_client_connections_open gauge
                    latchkey_client_connections_open 3
                    # HELP latchkey_upstream_connections_open Open upstream connections.
                    # TYPE latchkey_upstream_connections_open gauge
                    latchkey_upstream_connections_open 1
                    # HELP latchkey_websocket_tunnels_open Open WebSocket tunnels (after the upstream's 101).
                    # TYPE latchkey_websocket_tunnels_open gauge
                    latchkey_websocket_tunnels_open 0
                    # HELP latchkey_config_reloads_total Configuration reloads, by result.
                    # TYPE latchkey_config_reloads_total counter
                    latchkey_config_reloads_total{result="failure"} 1
                    latchkey_config_reloads_total{result="success"} 1
                    # HELP latchkey_config_last_reload_success 1 if the last configuration reload succeeded, else 0.
                    # TYPE latchkey_config_last_reload_success gauge
                    latchkey_config_last_reload_success 0

                    """))
        }

        @Test func interceptionSeriesCountByResult() {
            let metrics = LatchkeyMetrics(version: "v")
            metrics.interception.recordEstablished()
            metrics.interception.recordEstablished()
            metrics.interception.recordHandshakeFailed()
            metrics.interception.recordLeafFailed()
            metrics.interception.recordLeaf(cached: false)
            metrics.interception.recordLeaf(cached: true)
            metrics.interception.recordLeaf(cached: true)
            let text = metrics.render()
            #expect(text.contains("latchkey_intercept_connections_total{result=\"established\"} 2\n"))
            #expect(text.contains("latchkey_intercept_connections_total{result=\"tls_handshake_failed\"} 1\n"))
            #expect(text.contains("latchkey_intercept_connections_total{result=\"leaf_failed\"} 1\n"))
            #expect(text.contains("latchkey_intercept_leaf_certificates_total{result=\"minted\"} 1\n"))
            #expect(text.contains("latchkey_intercept_leaf_certificates_total{result=\"cache_hit\"} 2\n"))
        }

        @Test func familiesAppearInDeclarationOrder() {
            let names = LatchkeyMetrics(version: "v").render().split(separator: "\n")
                .filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
            #expect(
                names == [
                    "latchkey_requests_total", "latchkey_request_duration_seconds",
                    "latchkey_upstream_duration_seconds", "latchkey_upstream_attempts_total",
                    "latchkey_upstream_retries_total", "latchkey_upstream_tls_handshakes_total",
                    "latchkey_tls_revocation_checks_total",
                    "latchkey_upstream_unauthorized_total", "latchkey_token_fetches_total", "latchkey_token_expiry_seconds",
                    "latchkey_connection_up", "latchkey_client_connections_open", "latchkey_upstream_connections_open",
                    "latchkey_websocket_tunnels_open", "latchkey_config_reloads_total",
                    "latchkey_config_last_reload_success", "latchkey_build_info",
                    "latchkey_listener_accept_pauses_total", "latchkey_event_loops",
                    "latchkey_intercept_connections_total", "latchkey_intercept_leaf_certificates_total",
                ])
        }

        @Test(.enabled(if: MetricsTests.prometheusParserAvailable, "python3 cannot import prometheus_client; skipped"))
        func prometheusClientParsesTheExposition() throws {
            let metrics = LatchkeyMetrics(version: "1.0 \"beta\"\n\\")
            metrics.route("api", connection: "partner")
                .record(status: 200, duration: .milliseconds(12), upstreamDuration: .milliseconds(10), attempts: 2)
            metrics.connection("partner").recordTokenFetch(success: true)
            metrics.setTokenExpiryProvider { ["partner": 299.25] }
            let lines = try MetricsTests.parseWithPrometheusClient(metrics.render())
            let families = lines.filter { $0.hasPrefix("family ") }
            #expect(families.count == 12)
            for expected in [
                "family latchkey_requests counter",
                "family latchkey_request_duration_seconds histogram",
                "family latchkey_token_expiry_seconds gauge",
                "family latchkey_build_info gauge",
                "sample latchkey_requests_total connection='partner',route='api',status_class='2xx' 1.0",
                "sample latchkey_request_duration_seconds_bucket le='0.025',route='api' 1.0",
                "sample latchkey_request_duration_seconds_bucket le='+Inf',route='api' 1.0",
                "sample latchkey_request_duration_seconds_sum route='api' 0.012",
                "sample latchkey_upstream_retries_total route='api' 1.0",
                "sample latchkey_token_expiry_seconds connection='partner' 299.25",
                #"sample latchkey_build_info version='1.0 "beta"\n\\' 1.0"#,
            ] {
                #expect(lines.contains(expected), "parser did not yield \(expected)\n\(lines.joined(separator: "\n"))")
            }
        }
    }
}
