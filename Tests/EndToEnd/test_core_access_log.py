"""The access log: one line per request naming route, method, host and status; never a secret."""

import base64
import re

from latchkey_e2e import basic_value, fetch

BEARER = "e2e-log-bearer-6c5d4e3f2a"
USER, PASSWORD = "carol", "e2e-log-password-19ab"
API_KEY = "e2e-log-apikey-88ee77"


def test_access_log_line_and_no_secrets(latchkey, echo):
    lk = latchkey(f"""
log_level: debug
unmatched: deny
connections:
  bearer-conn:
    type: bearer
    token: ${{E2E_BEARER}}
  basic-conn:
    type: basic
    username: {USER}
    password: ${{E2E_PASSWORD}}
  key-conn:
    type: api_key
    key: ${{E2E_API_KEY}}
    header: X-API-Key
    scheme: none
routes:
  - name: logged-route
    host: logged.local
    upstream: {echo.url}
    connection: bearer-conn
  - name: basic-logged
    path_prefix: /basic
    upstream: {echo.url}
    connection: basic-conn
  - name: key-logged
    path_prefix: /key
    upstream: {echo.url}
    connection: key-conn
""", env={"E2E_BEARER": BEARER, "E2E_PASSWORD": PASSWORD, "E2E_API_KEY": API_KEY},
        secrets=[basic_value(USER, PASSWORD)[6:], base64.b64encode(BEARER.encode()).decode()])
    start = len(lk.log_text())
    reply = fetch("curl", "http://logged.local/access-log-probe", proxy=lk.proxy_url,
                  headers=[("Authorization", "Bearer client-log-secret-0042")])
    assert reply.status == 200

    def request_lines():
        return [line for line in lk.log_text()[start:].splitlines()
                if "logged-route" in line and "GET" in line and re.search(r"\b200\b", line)]

    lk.wait_for_log(r"logged-route.*\b200\b|\b200\b.*logged-route", after=start)
    lines = request_lines()
    assert len(lines) == 1, f"want one access-log line, got: {lines}"
    assert "logged.local" in lines[0]
    # The route's own fields (written once when the route was built) name it, its connection and upstream.
    for field in ("latchkey.route=logged-route", "latchkey.connection=bearer-conn",
                  f"latchkey.upstream={echo.url.rstrip('/')}", "latchkey.status=200"):
        assert f" {field} " in lines[0] + " ", f"{field} missing from {lines[0]}"

    assert fetch("requests", f"{lk.base_url}/basic/x").status == 200
    assert fetch("requests", f"{lk.base_url}/key/y").status == 200
    lk.wait_for_log(r"key-logged", after=start)
    text = lk.log_text()
    for secret in (BEARER, PASSWORD, API_KEY, basic_value(USER, PASSWORD)[6:], "client-log-secret-0042"):
        assert secret not in text, f"secret {secret[:4]}… in the log"
