"""Issue 12 with real clients through HTTPS_PROXY: curl, Python requests and Node (standard library, trust
from NODE_EXTRA_CA_CERTS) call https://api.test/... through the proxy, which intercepts the CONNECT and
forwards to nginx over TLS verified against the upstream's own CA (made in the run): the credential is
injected and the client's own Authorization is gone. A route with `intercept: false` is tunnelled untouched."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from intercept_helpers import BEARER, ENV, InterceptCA, intercept_config
from latchkey_e2e import TIMEOUT, clean_env, curl, requests_session, run_latchkey_cli

NODE = shutil.which("node") or "/usr/bin/node"
JAVA, KEYTOOL = shutil.which("java"), shutil.which("keytool")
JAVA_CLIENT = Path(__file__).parent / "peers" / "JavaHttpsProxyClient.java"
NODE_CLIENT = Path(__file__).parent / "peers" / "node_https_proxy_client.js"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    # Made by the binary itself, as the docs tell users to (`latchkey ca init`).
    out = tmp_path_factory.mktemp("intercept-ca") / "ca"
    done = run_latchkey_cli(["ca", "init", "--out", str(out), "--name", "Latchkey E2E Interception CA"])
    assert done.returncode == 0, done.stdout + done.stderr
    return InterceptCA(out / "ca.crt", out / "ca.key")


@pytest.fixture
def proxy(latchkey, nginx_tls, pki, ca):
    return latchkey(intercept_config(ca, f"""
    - name: api
      host: api.test
      upstream: https://localhost:{nginx_tls.tls_port}
      connection: svc
      tls: {{ca_file: {pki.ca_cert}}}
    - name: pinned
      host: localhost:{nginx_tls.tls_port}
      connection: svc
      intercept: false
    """), env=ENV, secrets=ca.key_secrets)


def test_curl_through_https_proxy(proxy, ca):
    reply = curl("https://api.test/v1/items?q=1", proxy=proxy.proxy_url, headers=[("Authorization", "Bearer mine")],
                 extra=["--cacert", str(ca.cert)])
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["authorization"] == f"Bearer {BEARER}"
    assert seen["uri"] == "/v1/items?q=1" and seen["scheme"] == "https"
    proxy.wait_for_log(r"GET api\.test/v1/items 200.*latchkey\.intercepted=true")


def test_curl_with_https_proxy_environment(proxy, ca):
    # As an app sees it: HTTPS_PROXY in the environment, the CA through CURL_CA_BUNDLE.
    done = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "https://api.test/env"],
                          capture_output=True, text=True, timeout=TIMEOUT + 10,
                          env=clean_env({"HTTPS_PROXY": proxy.proxy_url, "CURL_CA_BUNDLE": str(ca.cert)}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["authorization"] == f"Bearer {BEARER}"


def test_requests_through_https_proxy(proxy, ca):
    with requests_session(proxy.proxy_url) as session:
        for i in range(3):  # one kept-alive intercepted connection, three requests
            r = session.get(f"https://api.test/py/{i}", headers={"Authorization": "Bearer mine"}, verify=str(ca.cert),
                            timeout=TIMEOUT)
            assert r.status_code == 200, r.text
            assert r.json()["authorization"] == f"Bearer {BEARER}"
            assert r.json()["uri"] == f"/py/{i}"
    assert len(proxy.log_text().split("CONNECT api.test:443 200 intercepted")) == 2  # one connection


def test_requests_post_body(proxy, ca):
    with requests_session(proxy.proxy_url) as session:
        r = session.post("https://api.test/upload", data=b"x" * 200_000, verify=str(ca.cert), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "POST"


@pytest.mark.skipif(not os.path.exists(NODE), reason="node not installed")
def test_node_through_https_proxy(proxy, ca):
    done = subprocess.run([NODE, str(NODE_CLIENT), str(proxy.port), "api.test", "/node?x=1", "Bearer mine"],
                          capture_output=True, text=True, timeout=TIMEOUT + 10,
                          env=clean_env({"NODE_EXTRA_CA_CERTS": str(ca.cert)}))
    assert done.returncode == 0, done.stdout + done.stderr
    reply = json.loads(done.stdout)
    assert reply["status"] == 200, reply
    seen = json.loads(reply["body"])
    assert seen["authorization"] == f"Bearer {BEARER}" and seen["uri"] == "/node?x=1"


@pytest.mark.skipif(not os.path.exists(NODE), reason="node not installed")
def test_node_without_the_ca_is_refused_by_node(proxy):
    done = subprocess.run([NODE, str(NODE_CLIENT), str(proxy.port), "api.test", "/node-untrusted"],
                          capture_output=True, text=True, timeout=TIMEOUT + 10, env=clean_env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in done.stdout or "SELF_SIGNED" in done.stdout, done.stdout
    proxy.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed")


@pytest.mark.skipif(not (JAVA and KEYTOOL), reason="java/keytool not installed")
def test_java_through_https_proxy(proxy, ca, tmp_path):
    # As docs/interception.md says: the CA imported with keytool into a trust store the JVM is pointed at.
    store = tmp_path / "truststore.p12"
    done = subprocess.run([KEYTOOL, "-importcert", "-noprompt", "-alias", "latchkey", "-file", str(ca.cert),
                           "-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([JAVA, f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStorePassword=changeit",
                           str(JAVA_CLIENT), str(proxy.port), "https://api.test/java?x=1"],
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    status, _, body = done.stdout.partition("\n")
    assert status == "STATUS 200", done.stdout
    seen = json.loads(body)
    assert seen["authorization"] == f"Bearer {BEARER}" and seen["uri"] == "/java?x=1"


def test_curl_without_the_ca_is_refused_by_curl(proxy):
    reply = curl("https://api.test/untrusted", proxy=proxy.proxy_url, check=False)
    assert reply.returncode == 60, reply.stderr  # SSL certificate problem
    proxy.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed")


def test_intercept_false_route_is_tunnelled_untouched(proxy, nginx_tls, pki, ca):
    # The route says intercept: false (a pinned client): the tunnel reaches nginx itself, whose certificate
    # (signed by the upstream's CA, not the interception CA) the client verifies, and the client's own header
    # arrives untouched: no credential.
    reply = curl(f"https://localhost:{nginx_tls.tls_port}/pinned", proxy=proxy.proxy_url,
                 headers=[("Authorization", "Bearer mine")], extra=["--cacert", str(pki.ca_cert)])
    assert reply.status == 200, reply.body
    assert reply.json()["authorization"] == "Bearer mine"
    proxy.wait_for_log(rf"CONNECT localhost:{nginx_tls.tls_port} open")
    # With only the interception CA the client fails: the leaf is nginx's own.
    reply = curl(f"https://localhost:{nginx_tls.tls_port}/pinned", proxy=proxy.proxy_url, check=False,
                 extra=["--cacert", str(ca.cert)])
    assert reply.returncode == 60, reply.stderr
