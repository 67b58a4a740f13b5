"""Issue 12, reload: a reload that changes `intercept:` builds a new CA authority (new CONNECTs get leaves from
the new CA) while open intercepted connections keep theirs; a reload that turns interception off for a host
stops credential injection on connections already open (421) and refuses new CONNECTs (403)."""

import json
import re
import ssl
import urllib.request

import pytest

from intercept_helpers import BEARER, ENV, InterceptCA, connect, intercept_config, intercepted_tls, read_rest, request

RELOADED = r"configuration reloaded \(file change\)"


def routes(echo, intercept: bool = True) -> str:
    flag = "" if intercept else "\n      intercept: false"
    return f"""
    - name: api
      host: api.test
      upstream: http://127.0.0.1:{echo.port}
      connection: svc{flag}
    """


def hits(echo, key: str) -> list[dict]:
    with urllib.request.urlopen(f"{echo.url}/hits/{key}", timeout=10) as r:
        return json.loads(r.read())["attempts"]


def test_a_new_ca_serves_new_connections_and_open_ones_keep_theirs(latchkey, echo, tmp_path):
    first, second = InterceptCA.create(tmp_path / "one"), InterceptCA.create(tmp_path / "two", name="Second CA")
    lk = latchkey(intercept_config(first, routes(echo)), env=ENV)
    with intercepted_tls(lk.port, "api.test:443", first.cert) as old:
        assert request(old, "GET", "/echo/reload-ca-1", "api.test")[0] == 200
        mark = lk.log_offset()
        lk.rewrite_config(intercept_config(second, routes(echo)))
        lk.wait_for_log(RELOADED, after=mark)
        # The open connection keeps its leaf (from the first CA) and keeps working.
        assert request(old, "GET", "/echo/reload-ca-2", "api.test")[0] == 200
        # A new one gets a leaf from the second CA: the first no longer verifies it.
        with pytest.raises(ssl.SSLCertVerificationError):
            intercepted_tls(lk.port, "api.test:443", first.cert)
        with intercepted_tls(lk.port, "api.test:443", second.cert) as new:
            assert dict(x[0] for x in new.getpeercert()["issuer"])["commonName"] == "Second CA"
            assert request(new, "GET", "/echo/reload-ca-3", "api.test")[0] == 200
    for key in ("reload-ca-1", "reload-ca-2", "reload-ca-3"):
        assert [v for n, v in hits(echo, key)[0]["headers"] if n.lower() == "authorization"] == [f"Bearer {BEARER}"]


@pytest.mark.parametrize("change", ["intercept_removed", "route_intercept_false"])
def test_turning_interception_off_stops_injection_on_open_connections(latchkey, echo, tmp_path, change):
    ca = InterceptCA.create(tmp_path / "ca")
    lk = latchkey(intercept_config(ca, routes(echo)), env=ENV)
    key = f"reload-off-{change}"
    with intercepted_tls(lk.port, "api.test:443", ca.cert) as s:
        assert request(s, "GET", f"/echo/{key}-before", "api.test")[0] == 200
        mark = lk.log_offset()
        if change == "intercept_removed":
            lk.rewrite_config(intercept_config(None, routes(echo)))
        else:
            lk.rewrite_config(intercept_config(ca, routes(echo, intercept=False)))
        lk.wait_for_log(RELOADED, after=mark)
        status, headers, body = request(s, "GET", f"/echo/{key}-after", "api.test")
        assert status == 421 and headers["x-latchkey-error"] == "misdirected_request", body
        assert "reloaded" in json.loads(body)["detail"]
    assert hits(echo, f"{key}-after") == []
    s, head = connect(lk.port, "api.test:443")
    with s:
        if change == "intercept_removed":
            assert head.startswith(b"HTTP/1.1 403"), head
        else:
            assert head.startswith(b"HTTP/1.1 502") or head.startswith(b"HTTP/1.1 200"), head  # a plain tunnel


def test_ca_files_rotated_in_place_are_picked_up_without_a_config_change(latchkey, echo, tmp_path):
    """Issue 16: the interception CA's files are watched like secret files (same paths, new content)."""
    import os
    first, second = InterceptCA.create(tmp_path / "one"), InterceptCA.create(tmp_path / "two", name="Rotated CA")
    live = InterceptCA(tmp_path / "live.crt", tmp_path / "live.key")
    live.cert.write_bytes(first.cert.read_bytes())
    live.key.write_bytes(first.key.read_bytes())
    live.key.chmod(0o600)
    lk = latchkey(intercept_config(live, routes(echo)), env=ENV, secrets=first.key_secrets + second.key_secrets)
    with intercepted_tls(lk.port, "api.test:443", first.cert) as s:
        assert request(s, "GET", "/echo/rotate-ca-1", "api.test")[0] == 200
    mark = lk.log_offset()
    for path, source in ((live.key, second.key), (live.cert, second.cert)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(source.read_bytes())
        tmp.chmod(0o600)
        os.replace(tmp, path)
    lk.wait_for_log(RELOADED, after=mark)
    with intercepted_tls(lk.port, "api.test:443", second.cert) as s:
        assert dict(x[0] for x in s.getpeercert()["issuer"])["commonName"] == "Rotated CA"
        assert request(s, "GET", "/echo/rotate-ca-2", "api.test")[0] == 200
