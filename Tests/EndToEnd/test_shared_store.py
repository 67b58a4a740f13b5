"""Many replicas, one token (issue 15): three Latchkey processes share tokens through a real
`redis-server`, with a lease so that only one of them asks the authorization server."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from latchkey_e2e import admin_get, wait_until
from oauth_fixtures import api_get, client, new_state_key, oauth_config, route
from redis_fixtures import redis_server  # noqa: F401  (fixture)

SECRET = "e2e-shared-store-secret-5c1e9a"
PREFIX = "latchkey/e2e/"


def replica_config(srv, rs, password_line=None, extra_store=()):
    store = ["shared_store:", f"  redis: {rs.url}", f"  key_prefix: {PREFIX}", *extra_store]
    if password_line:
        store.append(password_line)
    top = ["state_key: ${STATE_KEY}", *store]
    conn = [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"]
    return oauth_config(conn, [route("api", srv.url)], top=top)


def start_replicas(latchkey, config, env, n=3):
    return [latchkey(config, env=env) for _ in range(n)]


def requests_across(replicas, count):
    def one(i):
        return api_get(replicas[i % len(replicas)], timeout=15)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def assert_no_token_in_clear(rs, srv):
    values = rs.values(PREFIX)
    assert values, "nothing was stored"
    tokens = [t.encode() for t in srv.tokens()]
    assert tokens
    for key, value in values.items():
        assert value is not None
        for token in tokens:
            assert token not in value and token not in key, key
        if b"/token/" in key:
            assert value.startswith(b"LKR1"), (key, value[:8])


def test_cold_cache_three_replicas_one_token_request(latchkey, oauth_server, redis_server):
    """The token endpoint answers 1.5 s late; three replicas start at once and 60 concurrent requests
    arrive across them: all succeed with one token, and the server saw exactly one token request."""
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(1500)
    rs = redis_server()
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key()}
    replicas = start_replicas(latchkey, replica_config(srv, rs), env)

    assert all("OAuth tokens are shared with other replicas through redis://127.0.0.1" in lk.log_text() for lk in replicas)
    replies = requests_across(replicas, 60)
    statuses = [r.status for r in replies]
    assert statuses == [200] * 60, {s: statuses.count(s) for s in set(statuses)}
    stats = srv.stats()
    assert stats["token_requests"] == 1, stats
    assert len({r.json()["headers"]["Authorization"] for r in replies}) == 1
    assert_no_token_in_clear(rs, srv)
    # The metrics say the same: one replica fetched under the lease, the two others took its token.
    outcomes = {"lease_fetch": 0, "store_hit": 0, "degraded_fetch": 0}
    for lk in replicas:
        for line in admin_get(lk, "/metrics").body.decode().splitlines():
            for outcome in outcomes:
                if line.startswith(f'latchkey_shared_store_attempts_total{{connection="oauth",outcome="{outcome}"}}'):
                    outcomes[outcome] += int(float(line.split()[-1]))
    assert outcomes == {"lease_fetch": 1, "store_hit": 2, "degraded_fetch": 0}, outcomes


@pytest.mark.slow
def test_short_tokens_are_renewed_once_per_lifetime_across_replicas(latchkey, oauth_server, redis_server):
    """4 s tokens, requests across three replicas for 12 s: every request is 200, and renewals are
    shared: alone, three replicas would renew every 2-3.2 s each (12 or more token requests)."""
    srv = oauth_server([client("app1", SECRET)], expires_in=4)
    rs = redis_server()
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key()}
    replicas = start_replicas(latchkey, replica_config(srv, rs), env)
    for lk in replicas:
        lk.wait_for_log(r"connection oauth: Connected")

    failures = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 12:  # a bounded loop, not a sleep
        reply = api_get(replicas[i % 3], timeout=5)
        i += 1
        if reply.status != 200:
            failures.append((round(time.monotonic() - started, 2), reply.status))
        time.sleep(0.05)
    assert not failures, failures
    stats = srv.stats()
    assert stats["resource_requests_unauthorized"] == 0, stats
    assert 3 <= stats["token_requests"] <= 8, stats
    assert_no_token_in_clear(rs, srv)


def test_slow_store_never_holds_a_request(latchkey, oauth_server, redis_server):
    """Redis stalls for 4 s (DEBUG SLEEP: connected, but silent): warm replicas keep answering from their
    cache, and a replica started meanwhile (cold) gets its token after at most timeout_ms of waiting on
    Redis, not after the stall."""
    srv = oauth_server([client("app1", SECRET)])
    rs = redis_server()
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key()}
    config = replica_config(srv, rs)
    warm = latchkey(config, env=env)
    warm.wait_for_log(r"connection oauth: Connected")
    stall = rs.stall(4)
    started = time.monotonic()
    assert api_get(warm, timeout=5).status == 200
    cold = latchkey(config, env=env)
    reply = api_get(cold, timeout=5)
    elapsed = time.monotonic() - started
    assert reply.status == 200, reply.body
    assert admin_get(cold, "/readyz").json()["shared_store"]["reason"] == "store_timeout"
    assert stall.is_alive(), "the stall ended before the check: the test proved nothing"
    assert elapsed < 3.5, elapsed
    stall.join()
    assert srv.stats()["token_requests"] == 2  # the cold replica fetched alone (degraded)
    assert "shared store unavailable" in cold.log_text()


@pytest.mark.slow
def test_store_down_and_back(latchkey, oauth_server, redis_server):
    """Redis killed mid-run: requests keep succeeding on the cached tokens, each replica renews on its
    own at most once per lifetime; Redis back: the next renewal is stored again (resync)."""
    srv = oauth_server([client("app1", SECRET)], expires_in=6)
    rs = redis_server()
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key()}
    replicas = start_replicas(latchkey, replica_config(srv, rs), env)
    for lk in replicas:
        lk.wait_for_log(r"connection oauth: Connected")
    assert srv.stats()["token_requests"] == 1

    rs.stop()
    before = srv.stats()["token_requests"]
    failures = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 5:  # a bounded loop, not a sleep
        reply = api_get(replicas[i % 3], timeout=5)
        i += 1
        if reply.status != 200:
            failures.append((round(time.monotonic() - started, 2), reply.status))
        time.sleep(0.05)
    assert not failures, failures
    during = srv.stats()["token_requests"] - before
    # Tokens issued at start are renewed at 3-4.8 s: each replica at most once on its own in 5 s.
    assert 1 <= during <= 3, during
    assert any("shared store unavailable" in lk.log_text() for lk in replicas)
    for lk in replicas:
        ready = admin_get(lk, "/readyz")
        # Degraded is detail, never unready: the replica works alone and a restart would not help.
        assert ready.status == 200, ready.body
        assert ready.json()["shared_store"]["status"] == "degraded", ready.body
        assert ready.json()["shared_store"]["reason"] in ("store_unavailable", "store_timeout"), ready.body
        assert "latchkey_shared_store_up 0" in admin_get(lk, "/metrics").body.decode()

    rs.start()
    assert rs.values(PREFIX) == {}
    for lk in replicas:
        wait_until(lambda: admin_get(lk, "/readyz").json()["shared_store"]["status"] == "connected",
                   timeout=10, what="the replica to see the store back")
        assert "latchkey_shared_store_up 1" in admin_get(lk, "/metrics").body.decode()
    wait_until(lambda: any(b"/token/" in k for k in rs.values(PREFIX)), timeout=15, what="a record stored again")
    for lk in replicas:
        assert api_get(lk).status == 200
    assert 'latchkey_shared_store_attempts_total{connection="oauth",outcome="degraded_fetch"}' in "".join(
        admin_get(lk, "/metrics").body.decode() for lk in replicas)
    assert_no_token_in_clear(rs, srv)


def test_password_protected_store(latchkey, oauth_server, redis_server):
    """`password:` from a secret: AUTH is sent first, the record is stored; the password never reaches a log."""
    password = "e2e-redis-password-7f3b2d"
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(800)
    rs = redis_server(password=password)
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key(), "REDIS_PASSWORD": password}
    replicas = start_replicas(latchkey, replica_config(srv, rs, "  password: ${REDIS_PASSWORD}"), env)
    replies = requests_across(replicas, 30)
    assert [r.status for r in replies] == [200] * 30
    assert srv.stats()["token_requests"] == 1
    assert_no_token_in_clear(rs, srv)


def test_tls_store_with_password(latchkey, oauth_server, redis_server, pki):
    """`rediss://` verified against the test CA (LatchkeyTLS under hiredis's codec), with AUTH: one token
    request for three replicas; `check` reports the store reachable, and unreachable with a wrong CA."""
    password = "e2e-redis-tls-password-91ac4e"
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(800)
    rs = redis_server(password=password, tls=pki)
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key(), "REDIS_PASSWORD": password}
    config = replica_config(srv, rs, "  password: ${REDIS_PASSWORD}", extra_store=[f"  tls: {{ca_file: {pki.ca_cert}}}"])
    replicas = start_replicas(latchkey, config, env)
    replies = requests_across(replicas, 30)
    assert [r.status for r in replies] == [200] * 30
    assert srv.stats()["token_requests"] == 1
    assert_no_token_in_clear(rs, srv)
    assert admin_get(replicas[0], "/readyz").json()["shared_store"]["status"] == "connected"


def test_check_reports_the_store(latchkey_launcher, oauth_server, redis_server, pki, tmp_path):
    """`latchkey check` connects (TLS, AUTH) and PINGs: reachable; a wrong password or an untrusted CA
    fails the check with a message that names the problem and never the password."""
    import subprocess
    from latchkey_e2e import clean_env, latchkey_binary

    password = "e2e-redis-check-password-3d2f1b"
    srv = oauth_server([client("app1", SECRET)])
    rs = redis_server(password=password, tls=pki)

    def check(password_value, ca):
        config = replica_config(srv, rs, "  password: ${REDIS_PASSWORD}", extra_store=[f"  tls: {{ca_file: {ca}}}"])
        path = tmp_path / "check.yaml"
        path.write_text(config)
        env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key(), "REDIS_PASSWORD": password_value,
               "SWIFT_BACKTRACE": "enable=no"}
        done = subprocess.run([latchkey_binary(), "check", "--config", str(path)], capture_output=True, text=True,
                              env=clean_env(env), timeout=30)
        return done.returncode, done.stdout + done.stderr

    code, out = check(password, pki.ca_cert)
    assert code == 0, out
    assert f"shared_store rediss://127.0.0.1:{rs.port}/0: reachable" in out
    code, out = check("wrong-password-5e8a", pki.ca_cert)
    assert code == 1 and "AUTH refused" in out and "wrong-password-5e8a" not in out, out
    code, out = check(password, pki.untrusted_ca_cert)
    assert code == 1 and "certificate verify failed" in out, out


@pytest.mark.slow
def test_authcode_consent_once_serves_every_replica_across_rotations(authcode, latchkey, redis_server, tmp_path):
    """Consent through replica 1; replicas 2 and 3 (own state_dir, same state_key) take the grant from
    the store. 4 s access tokens with refresh-token rotation for 12 s of requests across all three:
    every request is 200, no refresh is ever refused (no replica holds a stale refresh token), renewals
    are shared, and a disconnect on replica 1 reaches the others."""
    from oauth_fixtures import CRM_HOST

    rs = redis_server()
    rig = authcode(expires_in=4, top=["shared_store:", f"  redis: {rs.url}", f"  key_prefix: {PREFIX}"])
    first = rig.start()
    others = []
    for i in (2, 3):
        config = rig.config.replace(f"admin: 127.0.0.1:{rig.admin_port}", "admin: 127.0.0.1:0")
        config = config.replace(f"state_dir: {rig.state_dir}", f"state_dir: {tmp_path / f'state-{i}'}")
        others.append(latchkey(config, env=rig.env))
    replicas = [first, *others]
    assert api_get(others[0], host=CRM_HOST).status == 502  # no consent anywhere yet
    rig.consent()

    failures = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 12:  # a bounded loop, not a sleep
        reply = api_get(replicas[i % 3], host=CRM_HOST, timeout=5)
        i += 1
        if reply.status != 200:
            failures.append((round(time.monotonic() - started, 2), i % 3, reply.status, reply.body[:200]))
        time.sleep(0.05)
    assert not failures, failures

    wait_until(lambda: rig.srv.stats()["token_requests_in_flight"] == 0, 10, "no token request in flight")
    refreshes = [r for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "refresh_token"]
    assert all(r["status"] == 200 for r in refreshes), refreshes  # never a stale (rotated) refresh token
    # 12 s of 4 s tokens renewed at about half their life, once for all three replicas: 3 to 8.
    assert 3 <= len(refreshes) <= 8, len(refreshes)
    assert rig.exchanges() == 1
    assert rig.srv.grants()["refresh_tokens_valid"] == 1
    values = rs.values(PREFIX)
    secrets = [r["refresh_token"].encode() for r in rig.srv.refresh_tokens("crm")] + [t.encode() for t in rig.srv.tokens()]
    assert any(b"/grant/" in k for k in values) and secrets
    for key, value in values.items():
        assert value.startswith(b"LKR1") and not any(s in value for s in secrets), key

    reply = admin_get(first, "/connections/crm/disconnect", method="POST")
    assert reply.status == 200, reply.body
    for lk in others:
        wait_until(lambda: api_get(lk, host=CRM_HOST, timeout=5).status == 502, timeout=10,
                   what="the disconnect to reach another replica")


def test_jwt_bearer_three_replicas_one_grant(latchkey, oauth_server, oauth_keys, redis_server):
    """`oauth2_jwt_bearer` goes through the same lease: three replicas at a cold cache, one signed
    assertion exchanged at the server."""
    from oauth_fixtures import jwt_bearer_client

    srv = oauth_server([jwt_bearer_client("svc-bearer", oauth_keys.rsa_public, ["read"], issuer="svc-issuer")])
    srv.delay(800)
    rs = redis_server()
    conn = [f"token_url: {srv.token_url}", "issuer: svc-issuer", "subject: alice@example.com",
            'private_key: "{{secret:signing_key}}"', "scopes: read"]
    top = ["secrets:", f"  signing_key: {{file: {oauth_keys.rsa_private}}}", "state_key: ${STATE_KEY}",
           "shared_store:", f"  redis: {rs.url}", f"  key_prefix: {PREFIX}"]
    config = oauth_config(conn, [route("api", srv.url)], top=top, kind="oauth2_jwt_bearer")
    replicas = start_replicas(latchkey, config, {"STATE_KEY": new_state_key()})
    replies = requests_across(replicas, 30)
    assert [r.status for r in replies] == [200] * 30
    assert srv.stats()["token_requests"] == 1
    assert_no_token_in_clear(rs, srv)


def test_acl_user_limited_to_the_prefix(latchkey, oauth_server, redis_server):
    """An ACL user (`username` + `password`) allowed only the commands Latchkey uses on its own prefix,
    the default user off: three replicas still share one token request."""
    password = "e2e-redis-acl-password-0b7d6c"
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(800)
    rs = redis_server(acl=("latchkey", password, PREFIX + "*"))
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key(), "REDIS_PASSWORD": password}
    config = replica_config(srv, rs, "  password: ${REDIS_PASSWORD}", extra_store=["  username: latchkey"])
    replicas = start_replicas(latchkey, config, env)
    replies = requests_across(replicas, 30)
    assert [r.status for r in replies] == [200] * 30
    assert srv.stats()["token_requests"] == 1
    assert_no_token_in_clear(rs, srv)
    assert admin_get(replicas[0], "/readyz").json()["shared_store"]["status"] == "connected"


def test_mutual_tls_store(latchkey, oauth_server, redis_server, pki, tmp_path):
    """Redis requires a client certificate (`tls-auth-clients yes`): with `tls: {cert_file, key_file}`
    the replicas share one token; `check` without them fails the handshake."""
    import subprocess
    import textwrap
    from latchkey_e2e import clean_env, latchkey_binary, run_openssl

    certs = tmp_path / "client-certs"
    certs.mkdir()
    (certs / "client.ext").write_text(textwrap.dedent("""\
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth
        """))
    run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "latchkey.key", "-out", "latchkey.csr", "-subj", "/CN=latchkey", cwd=certs)
    run_openssl("x509", "-req", "-in", "latchkey.csr", "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
                "-CAcreateserial", "-out", "latchkey.crt", "-days", "3", "-extfile", "client.ext", cwd=certs)
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(800)
    rs = redis_server(tls=pki, client_certs=True)
    rs.client_certs_pair = (certs / "latchkey.crt", certs / "latchkey.key")
    env = {"OAUTH_SECRET": SECRET, "STATE_KEY": new_state_key()}
    tls = f"  tls: {{ca_file: {pki.ca_cert}, cert_file: {certs / 'latchkey.crt'}, key_file: {certs / 'latchkey.key'}}}"
    replicas = start_replicas(latchkey, replica_config(srv, rs, extra_store=[tls]), env)
    replies = requests_across(replicas, 30)
    assert [r.status for r in replies] == [200] * 30
    assert srv.stats()["token_requests"] == 1
    assert_no_token_in_clear(rs, srv)

    path = tmp_path / "no-client-cert.yaml"
    path.write_text(replica_config(srv, rs, extra_store=[f"  tls: {{ca_file: {pki.ca_cert}}}"]))
    done = subprocess.run([latchkey_binary(), "check", "--config", str(path)], capture_output=True, text=True,
                          env=clean_env({**env, "SWIFT_BACKTRACE": "enable=no"}), timeout=30)
    assert done.returncode == 1, done.stdout
    line = next(l for l in done.stdout.splitlines() if l.startswith(f"shared_store rediss://127.0.0.1:{rs.port}/0:"))
    # TLS 1.3 sends the server's verdict on the client certificate after the client's handshake is done:
    # the check sees the alert, or the connection closed or reset before its PING was answered.
    assert "error:" in line and any(word in line for word in ("certificate required", "closed", "reset")), line
