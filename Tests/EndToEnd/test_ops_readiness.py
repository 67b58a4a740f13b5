"""Issue 14 §1: readiness means "this proxy can serve"; connection health has its own endpoint
(/connections/health) and metric (latchkey_connection_up). A token endpoint that is down when the
proxy starts must not keep the pod out of service for traffic that never uses that provider."""

from __future__ import annotations

from latchkey_e2e import admin_get, free_port, metric_sum, run_latchkey_cli, scrape_metrics, wait_until
from oauth_fixtures import api_get, client, oauth_config, route

OAUTH_SECRET = "e2e-readiness-oauth-secret-8f31"
BEARER = "e2e-readiness-bearer-token-2c77"


def down_config(port: int, extra_connection_lines=()) -> str:
    """One OAuth connection `oauth` whose token endpoint is 127.0.0.1:PORT, plus a static `bear`."""
    config = oauth_config(
        [f"token_url: http://127.0.0.1:{port}/oauth/token", "client_id: app1",
         "client_secret: ${READY_OAUTH_SECRET}", *extra_connection_lines],
        [route("api", f"http://127.0.0.1:{port}")])
    return config.replace("connections:\n", "connections:\n  bear: {type: bearer, token: \"${READY_BEARER}\"}\n", 1)


ENV = {"READY_OAUTH_SECRET": OAUTH_SECRET, "READY_BEARER": BEARER}


def unhealthy_after_first_fetch(lk):
    """Waits until the start-up fetch has failed: /connections/health 503 with `oauth` down."""
    def down():
        reply = admin_get(lk, "/connections/health")
        if reply.status != 503:
            return None
        states = {c["connection"]: c["state"] for c in reply.json()["unhealthy"]}
        return reply if states.get("oauth") == "down" else None
    return wait_until(down, what="/connections/health 503 with oauth down after the failed start-up fetch")


def test_token_endpoint_down_at_start_keeps_readyz_ready(latchkey, oauth_server):
    port = free_port()
    lk = latchkey(down_config(port), env=ENV)

    health = unhealthy_after_first_fetch(lk).json()
    assert health["status"] == "unhealthy", health
    assert [c["connection"] for c in health["unhealthy"]] == ["oauth"], health  # the static one is healthy
    entry = health["unhealthy"][0]
    assert entry["required_for_readiness"] is False, entry
    assert f"127.0.0.1:{port}" in entry["reason"] and "refused" in entry["reason"].lower(), entry

    ready = admin_get(lk, "/readyz")
    assert ready.status == 200, ready.body
    body = ready.json()
    assert body["status"] == "ready" and "not_ready" not in body, body
    assert body["unhealthy_connections"] == 1 and body["see"] == "/connections/health", body

    samples = scrape_metrics(lk)
    assert metric_sum(samples, "latchkey_connection_up", connection="oauth") == 0, samples.get("latchkey_connection_up")
    assert metric_sum(samples, "latchkey_connection_up", connection="bear") == 1, samples.get("latchkey_connection_up")
    assert len(samples["latchkey_connection_up"]) == 2  # a down connection is 0, never missing

    # The provider comes back: the next request fetches a token and health and the gauge follow.
    srv = oauth_server([client("app1", OAUTH_SECRET)], port=port)
    wait_until(lambda: api_get(lk).status == 200, what="a request succeeding once the server is up")
    healthy = admin_get(lk, "/connections/health")
    assert healthy.status == 200 and healthy.json() == {"status": "healthy", "unhealthy": []}, healthy.body
    assert admin_get(lk, "/readyz").json() == {"status": "ready"}
    assert metric_sum(scrape_metrics(lk), "latchkey_connection_up", connection="oauth") == 1

    for reply in (healthy, ready, admin_get(lk, "/connections")):
        text = reply.body.decode()
        for secret in [OAUTH_SECRET, BEARER, *srv.tokens()]:
            assert secret not in text


def test_only_connections_required_for_readiness_fail_readyz(latchkey):
    """Two connections on dead token endpoints, one opted in: /readyz names only that one."""
    port = free_port()
    config = down_config(port, ["required_for_readiness: true"])
    config = config.replace("connections:\n", "connections:\n"
                            "  optional:\n"
                            "    type: oauth2_client_credentials\n"
                            f"    token_url: http://127.0.0.1:{port}/other/token\n"
                            "    client_id: app2\n"
                            "    client_secret: ${READY_OAUTH_SECRET}\n", 1)
    lk = latchkey(config, env=ENV)
    summary = run_latchkey_cli(["check", "--offline", "--config", str(lk.config_path)], env=ENV)
    assert summary.returncode == 0, summary.stderr
    marked = [line for line in summary.stdout.splitlines() if "required_for_readiness" in line]
    assert len(marked) == 1 and marked[0].strip().startswith("oauth "), summary.stdout  # check shows the opt-in

    def both_down():
        reply = admin_get(lk, "/connections/health")
        states = {c["connection"]: c["state"] for c in reply.json()["unhealthy"]} if reply.status == 503 else {}
        return reply if states == {"oauth": "down", "optional": "down"} else None
    health = wait_until(both_down, what="both OAuth connections down").json()
    required = {c["connection"]: c["required_for_readiness"] for c in health["unhealthy"]}
    assert required == {"oauth": True, "optional": False}, health

    ready = admin_get(lk, "/readyz")
    assert ready.status == 503, ready.body
    body = ready.json()
    assert body["status"] == "not_ready", body
    assert [n["connection"] for n in body["not_ready"]] == ["oauth"], body
    assert body["unhealthy_connections"] == 2, body
    assert admin_get(lk, "/readyz", method="HEAD").status == 503


def test_connection_health_answers_get_and_head_only(latchkey, echo):
    lk = latchkey(f"""
        connections:
          bear: {{type: bearer, token: "${{READY_BEARER}}", required_for_readiness: true}}
        routes:
          - name: e
            path_prefix: /e/
            upstream: {echo.url}
            connection: bear
        """, env=ENV)
    assert admin_get(lk, "/connections/health").json() == {"status": "healthy", "unhealthy": []}
    assert admin_get(lk, "/connections/health", method="HEAD").status == 200
    assert admin_get(lk, "/readyz").json() == {"status": "ready"}
    wrong = admin_get(lk, "/connections/health", method="POST", headers=[])
    assert wrong.status == 405, wrong.body
