"""Fixtures for Latchkey's end-to-end tests (see README.md in this folder).

Session-scoped peers: `pki` (CA + localhost server certificate + an unrelated CA, made with the
openssl CLI), `nginx_tls` (nginx with that certificate, JSON echo of request variables),
`echo` (peers/echo_upstream.py). Per test: `latchkey` (a factory starting the binary under
test from a YAML string). Module scope: `latchkey_module`.
"""

import os

import pytest

from latchkey_e2e import PKI, EchoUpstream, LatchkeyLauncher, Nginx, raw_request  # noqa: F401

pytest_plugins = ["oauth_fixtures", "dot_fixtures"]  # oauth_keys, oauth_server (Authlib); dot_server (django-oauth-toolkit)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return PKI.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def nginx_tls(tmp_path_factory, pki):
    """nginx on loopback: `.tls_port` (HTTPS, localhost cert from `pki`), `.http_port` (plain).
    `location /` answers JSON {authorization, x_api_key, host, uri, method, scheme};
    `/static` is a tiny text file."""
    server = Nginx(tmp_path_factory.mktemp("nginx"), pki)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def echo(tmp_path_factory):
    """The echo upstream: `.port`, `.url`, `.stats()`; see peers/echo_upstream.py."""
    server = EchoUpstream(tmp_path_factory.mktemp("echo"))
    yield server
    server.stop()


def _launcher_fixture(workdir):
    launcher = LatchkeyLauncher(workdir)
    yield launcher
    leaks = launcher.cleanup()
    if leaks:
        pytest.fail("secret values found in latchkey's output:\n" + "\n".join(leaks))


@pytest.fixture
def latchkey_launcher(tmp_path):
    yield from _launcher_fixture(tmp_path / "latchkey")


@pytest.fixture
def latchkey(latchkey_launcher):
    """Factory: `latchkey(config_yaml, env={...}, secrets=[...])` -> LatchkeyProcess with
    `.proxy_url`, `.port`, `.admin_port`, `.log_text()`, `.wait_for_log(re)`, `.stop()`.
    Every process is stopped at teardown, and the test fails if a secret reached its log."""
    return latchkey_launcher.start


@pytest.fixture(scope="module")
def latchkey_module(tmp_path_factory):
    """Like `latchkey`, shared by one module's tests."""
    yield from _launcher_fixture(tmp_path_factory.mktemp("latchkey-module"))


def pytest_report_header(config):
    return f"LATCHKEY_BIN={os.environ.get('LATCHKEY_BIN', '(unset)')}"
