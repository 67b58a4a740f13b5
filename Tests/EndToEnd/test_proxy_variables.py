"""The README's proxy-variable table (issue 14 §4), checked with the real clients on this machine.

Each client is started as its own process with only the environment the README tells users to set, and
asked for `http://demo.local/...`: a name only the proxy's route knows. Through the proxy the echo upstream
answers with the injected credential; a client that goes direct fails to resolve the name, the symptom
the README warns about. Node.js and Java are exercised when installed (skipped otherwise).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from latchkey_e2e import TIMEOUT

BEARER = "e2e-proxy-vars-bearer-5b21c8"
URL = "http://demo.local/vars"


@pytest.fixture
def proxy(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: demo
    host: demo.local
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})
    return lk.proxy_url


def run(command: list[str], variables: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **variables}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT * 4, **kwargs)


def injected(stdout: str) -> bool:
    seen = json.loads(stdout)
    return [v for k, v in seen["headers"] if k.lower() == "authorization"] == [f"Bearer {BEARER}"]


def curl(variables):
    return run(["curl", "-sS", "--max-time", str(TIMEOUT), URL], variables)


def test_curl_reads_lowercase_http_proxy_only(proxy):
    through = curl({"http_proxy": proxy})
    assert through.returncode == 0 and injected(through.stdout), through.stderr
    upper_only = curl({"HTTP_PROXY": proxy})
    assert upper_only.returncode != 0
    assert "Could not resolve host: demo.local" in upper_only.stderr  # the symptom the README names


def test_curl_no_proxy_sends_a_name_direct(proxy):
    direct = curl({"http_proxy": proxy, "no_proxy": ".local"})
    assert direct.returncode != 0 and "Could not resolve host" in direct.stderr


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
def test_python_requests_reads_either_case(proxy, name):
    done = run([sys.executable, "-c", f"import requests, sys; sys.stdout.write(requests.get({URL!r}, timeout=10).text)"],
               {name: proxy})
    assert done.returncode == 0 and injected(done.stdout), done.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_ignores_the_variables(proxy):
    # Node's http and fetch read no proxy variable (the README points to NODE_USE_ENV_PROXY on Node 24+,
    # undici's EnvHttpProxyAgent or route mode): with both spellings set, fetch still goes direct.
    script = f"fetch({URL!r}).then(r => r.text()).then(t => console.log(t), e => {{ console.error(String(e.cause ?? e)); process.exit(3) }})"
    done = run(["node", "-e", script], {"HTTP_PROXY": proxy, "http_proxy": proxy})
    assert done.returncode == 3, done.stdout
    assert "ENOTFOUND" in done.stderr and "demo.local" in done.stderr


JAVA_CLIENT = """
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Fetch {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder().proxy(java.net.ProxySelector.getDefault()).build();
        HttpResponse<String> reply = client.send(HttpRequest.newBuilder(URI.create(args[0])).build(),
                                                 HttpResponse.BodyHandlers.ofString());
        System.out.print(reply.body());
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_java_reads_system_properties_not_variables(proxy, tmp_path):
    source = tmp_path / "Fetch.java"
    source.write_text(JAVA_CLIENT)
    host, port = proxy.removeprefix("http://").rsplit(":", 1)
    ignored = run(["java", str(source), URL], {"HTTP_PROXY": proxy, "http_proxy": proxy})
    assert ignored.returncode != 0
    assert "UnresolvedAddressException" in ignored.stderr, ignored.stderr[-2000:]  # went direct: no DNS name
    through = run(["java", str(source), URL],
                  {"JAVA_TOOL_OPTIONS": f"-Dhttp.proxyHost={host} -Dhttp.proxyPort={port}"})
    assert through.returncode == 0 and injected(through.stdout), through.stderr[-2000:]
