"""deploy/kubernetes: the manifests parse, agree with each other and with what the proxy serves.

The ConfigMap's proxy.conf passes `latchkey check --offline` (its secret files recreated in a temp
dir from the keys the README's `kubectl create secret` commands give), and the probes, ports and the
app's HTTP_PROXY name what that config really listens on; the proxy is then started with it and answers
the probes as the kubelet sends them. The README's steps are checked as written: what they create with
`kubectl create` is never in the kustomization (issue 14 §2), rendered with `kubectl kustomize` when
kubectl is installed. The sidecar component renders onto a plain Deployment (issue 14 §3).
"""

from __future__ import annotations

import http.client
import os
import posixpath
import re
import shlex
import shutil
import subprocess

import pytest

from oauth_fixtures import client

from deploy_files import DEPLOY, dockerfile_stages, help_text, option_names
from intercept_helpers import InterceptCA
from latchkey_e2e import TIMEOUT, closed_port, run_latchkey_cli, wait_until

yaml = pytest.importorskip("yaml", reason="PyYAML missing: add PyYAML to Tests/EndToEnd/requirements.txt")

K8S = DEPLOY / "kubernetes"
SECRET_DIR_PLACEHOLDER = "@SECRETS@"


def load(name: str) -> dict:
    documents = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]
    assert len(documents) == 1, f"{name}: expected one document"
    return documents[0]


def readme_created_objects() -> dict[str, dict]:
    """What deploy/kubernetes/README.md's first shell block creates with `kubectl create secret generic NAME`
    and `kubectl create configmap NAME`, as objects with the keys its `--from-file=KEY=PATH` flags give
    (values are placeholders), by name."""
    readme = (K8S / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    created = {}
    for command in block.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if words[:2] != ["kubectl", "create"]:
            continue
        kind, name = ("Secret", words[4]) if words[2] == "secret" else ("ConfigMap", words[3])
        keys = [w.split("=", 2)[1] for w in words if w.startswith("--from-file=")]
        field = "stringData" if kind == "Secret" else "data"
        created[name] = {"kind": kind, "metadata": {"name": name}, field: {k: f"readme-{k}-value" for k in keys}}
    return created


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    """The kustomization's resources (by kind, the first of each, and by name) plus what the README creates."""
    kustomization = load("kustomization.yaml")
    found = {}
    for resource in kustomization["resources"]:
        doc = load(resource)
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), resource
        found.setdefault(doc["kind"], doc)  # the first of each kind (configmap.yaml)
        found[doc["metadata"]["name"]] = doc
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, f"kustomization.yaml lists {listed}, the folder holds {on_disk}"
    for name, doc in readme_created_objects().items():
        assert name not in found, f"{name}: the README creates it and the kustomization would overwrite it"
        found[name] = doc
    return found


@pytest.fixture(scope="module")
def pod(manifests) -> dict:
    return manifests["Deployment"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def sidecar(pod) -> dict:
    found = [c for c in pod.get("initContainers", []) if c["name"] == "latchkey"]
    assert len(found) == 1, "no initContainer named latchkey"
    return found[0]


@pytest.fixture(scope="module")
def app(pod) -> dict:
    assert len(pod["containers"]) == 1
    return pod["containers"][0]


@pytest.fixture(scope="module")
def config_path(sidecar) -> str:
    args = sidecar["args"]
    assert args[:2] == ["run", "--config"] and len(args) == 3, args
    assert "--config" in option_names(help_text("run"))
    return args[2]


@pytest.fixture(scope="module")
def proxy_conf_text(manifests, config_path) -> str:
    data = manifests["ConfigMap"]["data"]
    key = posixpath.basename(config_path)
    assert key in data, f"the ConfigMap has no key {key} (the file --config names)"
    return data[key]


@pytest.fixture(scope="module")
def proxy_conf(proxy_conf_text) -> dict:
    return yaml.safe_load(proxy_conf_text)


def host_port(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"\[?([^\]]*)\]?:(\d+)", text)
    assert m, text
    return m.group(1), int(m.group(2))


def container_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"{container['name']} has no port named {port}"
    return named[0]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def secret_files(proxy_conf: dict) -> list[str]:
    return [s["file"] for s in (proxy_conf.get("secrets") or {}).values() if "file" in s]


# -- the sidecar ----------------------------------------------------------------------------------

def test_latchkey_is_a_native_sidecar(sidecar, pod):
    assert sidecar["restartPolicy"] == "Always", "an init container is a sidecar only with restartPolicy: Always"
    assert pod["initContainers"][0] is sidecar, "the sidecar must start before any other init container"
    # The kubelet starts the app only once this passes: it must be the readiness endpoint.
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("probe, path", [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"),
                                         ("livenessProbe", "/healthz")])
def test_probes_target_the_admin_listener(sidecar, proxy_conf, probe, path):
    get = sidecar[probe]["httpGet"]
    assert get["path"] == path
    admin_host, admin_port = host_port(proxy_conf["admin"])
    assert container_port(sidecar, get["port"]) == admin_port, f"{probe} port != admin: {proxy_conf['admin']}"
    # httpGet probes connect to the pod IP from the node: a loopback-only admin listener would fail them.
    assert admin_host in ("0.0.0.0", "::"), f"admin: {proxy_conf['admin']} is unreachable for httpGet probes"


def test_declared_ports_match_the_config(sidecar, proxy_conf):
    assert container_port(sidecar, "proxy") == host_port(proxy_conf["listen"])[1]
    assert container_port(sidecar, "admin") == host_port(proxy_conf["admin"])[1]


def test_proxy_listens_on_the_pod_loopback_only(proxy_conf):
    assert host_port(proxy_conf["listen"])[0] == "127.0.0.1"


def test_config_and_credentials_are_mounted_where_the_config_reads_them(manifests, pod, sidecar, app,
                                                                       config_path, proxy_conf):
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    config_mount = mounts[posixpath.dirname(config_path)]
    assert "subPath" not in config_mount, "a subPath mount never sees ConfigMap updates"
    assert volumes[config_mount["name"]]["configMap"]["name"] == manifests["ConfigMap"]["metadata"]["name"]

    secret = manifests["latchkey-credentials"]
    files = secret_files(proxy_conf)
    assert files, "the example should read at least one credential from the Secret"
    for path in files:
        mount = mounts.get(posixpath.dirname(path))
        assert mount is not None, f"{path}: its folder is not a volume mount of the sidecar"
        assert volumes[mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]
        assert posixpath.basename(path) in secret["stringData"], f"{path}: no such key in the Secret"
    secret_volumes = {n for n, v in volumes.items() if "secret" in v}
    assert not any(m["name"] in secret_volumes for m in app.get("volumeMounts", [])), \
        "the app container must not see the credentials"


def test_the_pod_runs_as_the_images_user(pod, sidecar):
    _, stages = dockerfile_stages()
    uid, _, gid = stages[-1].last("USER").arguments.partition(":")
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == int(uid) and context["runAsGroup"] == int(gid)
    assert context["fsGroup"] == int(gid), "Secret files (mode 0440) are readable through fsGroup"
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True


def test_resources_are_requested_and_memory_bounded(sidecar):
    resources = sidecar["resources"]

    def mebibytes(quantity: str) -> int:
        m = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
        assert m, quantity
        return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)
    request, limit = mebibytes(resources["requests"]["memory"]), mebibytes(resources["limits"]["memory"])
    assert 32 <= request <= limit, (request, limit)  # measured peak RSS ~31 MiB under 64 connections
    assert "cpu" in resources["requests"]


def test_prometheus_can_scrape_the_admin_port_and_nothing_else_opens(manifests, sidecar, proxy_conf):
    """Issue 14 §3: the scrape annotations name the admin port, and the NetworkPolicy admits a monitoring
    namespace to it (other pods still reach only the app's port)."""
    _, admin_port = host_port(proxy_conf["admin"])
    template = manifests["Deployment"]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(admin_port) and annotations["prometheus.io/path"] == "/metrics"
    policy = manifests["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    rules = {tuple(p["port"] for p in rule["ports"]): rule for rule in policy["ingress"]}
    assert set(rules) == {(8080,), (admin_port,)}, rules
    assert "from" not in rules[(8080,)]  # the app's port: any pod
    sources = rules[(admin_port,)]["from"]
    assert sources and all("namespaceSelector" in source for source in sources), sources


# -- the app --------------------------------------------------------------------------------------

def test_app_proxy_variables_point_at_the_listener(app, proxy_conf):
    env = env_of(app)
    host, port = host_port(proxy_conf["listen"])
    for name in ("HTTP_PROXY", "http_proxy"):
        assert env.get(name) == f"http://{host}:{port}", f"{name}={env.get(name)} but listen: {proxy_conf['listen']}"
    for name in ("NO_PROXY", "no_proxy"):
        bypass = env[name].split(",")
        assert {"localhost", "127.0.0.1", ".svc"} <= set(bypass), bypass
    # https:// calls go through the proxy too: it intercepts CONNECTs to routed hosts (`intercept:`).
    assert "intercept" in proxy_conf
    for name in ("HTTPS_PROXY", "https_proxy"):
        assert env.get(name) == f"http://{host}:{port}", f"{name}={env.get(name)} but listen: {proxy_conf['listen']}"


def test_interception_ca_key_is_in_the_sidecar_only_and_the_app_trusts_the_certificate(manifests, pod, sidecar, app,
                                                                                     proxy_conf):
    volumes = {v["name"]: v for v in pod["volumes"]}
    intercept = proxy_conf["intercept"]
    folder = posixpath.dirname(intercept["ca_key"])
    assert posixpath.dirname(intercept["ca_cert"]) == folder
    mount = {m["mountPath"]: m for m in sidecar["volumeMounts"]}[folder]
    secret = manifests[volumes[mount["name"]]["secret"]["secretName"]]
    assert secret["kind"] == "Secret"
    for path in (intercept["ca_cert"], intercept["ca_key"]):
        assert posixpath.basename(path) in secret["stringData"], path
    assert volumes[mount["name"]]["secret"]["defaultMode"] == 0o440
    # The app: no Secret at all (checked above for every Secret volume), the certificate from a ConfigMap.
    env = env_of(app)
    app_mounts = {m["mountPath"]: m for m in app["volumeMounts"]}
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        path = env[name]
        mount = app_mounts[posixpath.dirname(path)]
        configmap = manifests[volumes[mount["name"]]["configMap"]["name"]]
        assert configmap["kind"] == "ConfigMap" and posixpath.basename(path) in configmap["data"], name
        assert "key" not in posixpath.basename(path)
    assert "BEGIN" not in json_text(manifests), "no real key or certificate in the example manifests"
    for path in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"):  # the README's configmap has both files
        assert posixpath.basename(env[path]) in manifests["latchkey-intercept-ca-cert"]["data"], path


def test_app_route_mode_urls_name_a_route(app, proxy_conf):
    host, port = host_port(proxy_conf["listen"])
    prefixes = [r["path_prefix"] for r in proxy_conf["routes"] if "path_prefix" in r]
    urls = [v for v in env_of(app).values() if v and v.startswith(f"http://{host}:{port}/")]
    assert urls, "the example should show route mode too"
    for url in urls:
        path = url[len(f"http://{host}:{port}"):]
        assert any(path.startswith(p) for p in prefixes), f"{url} matches no route's path_prefix {prefixes}"


# -- the config, checked and run by the real binary ------------------------------------------------

def json_text(manifests: dict) -> str:
    import json
    return json.dumps(manifests)


def localized(proxy_conf_text: str, proxy_conf: dict, secrets_dir, secret: dict) -> str:
    """proxy.conf with its Secret folder moved to `secrets_dir`, the files written from the Secret, and the
    interception CA's folder moved to a CA made in the run next to it (the Secret holds placeholders)."""
    folders = {posixpath.dirname(p) for p in secret_files(proxy_conf)}
    assert len(folders) == 1, folders
    for key, value in secret["stringData"].items():
        (secrets_dir / key).write_text(value + "\n")
    text = proxy_conf_text.replace(folders.pop() + "/", f"{secrets_dir}/")
    if "intercept" in proxy_conf:
        ca_dir = secrets_dir.parent / "intercept-ca"
        ca = InterceptCA.create(ca_dir)
        ca.cert.rename(ca_dir / posixpath.basename(proxy_conf["intercept"]["ca_cert"]))
        ca.key.rename(ca_dir / posixpath.basename(proxy_conf["intercept"]["ca_key"]))
        text = text.replace(posixpath.dirname(proxy_conf["intercept"]["ca_key"]) + "/", f"{ca_dir}/")
    return text


def test_configmap_proxy_conf_passes_check_offline(tmp_path, manifests, proxy_conf_text, proxy_conf):
    (tmp_path / "secrets").mkdir()
    config = tmp_path / "proxy.conf"
    config.write_text(localized(proxy_conf_text, proxy_conf, tmp_path / "secrets", manifests["latchkey-credentials"]))
    done = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert done.returncode == 0, done.stdout + done.stderr
    for route in proxy_conf["routes"]:
        assert route["name"] in done.stdout
    for connection in proxy_conf["connections"]:
        assert connection in done.stdout


def probe_status(port: int, path: str) -> tuple[int, str]:
    """GET `path` as the kubelet asks (Host is the pod IP; it reads one response by its length)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers={"Host": f"10.0.0.7:{port}", "User-Agent": "kube-probe/1.33",
                                                 "Accept": "*/*", "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_for_probe(port: int, path: str, status: int, saying: str = "") -> str:
    """Polls until `path` answers `status` with a body containing `saying` (any case); returns the body."""
    def answered():
        got, body = probe_status(port, path)
        return body if got == status and saying.lower() in body.lower() else None
    return wait_until(answered, what=f"{path} answering {status} {saying!r}")


def probe_config(tmp_path, proxy_conf_text, proxy_conf, manifests, token_url: str) -> str:
    (tmp_path / "secrets").mkdir(exist_ok=True)
    text = localized(proxy_conf_text, proxy_conf, tmp_path / "secrets", manifests["latchkey-credentials"])
    # Kernel-chosen ports instead of the fixed ones; the token endpoint on this machine.
    text = re.sub(r"(?m)^listen: .*$", "listen: 127.0.0.1:0", text)
    text = re.sub(r"(?m)^admin: .*$", "admin: 0.0.0.0:0", text)
    return re.sub(r"token_url: \S+", f"token_url: {token_url}", text)


def test_the_proxy_answers_the_probes_with_this_config(tmp_path, latchkey, manifests, sidecar,
                                                      proxy_conf_text, proxy_conf, oauth_server):
    # The ConfigMap's OAuth client, registered at a real authorization server with the Secret's value:
    # ready means every OAuth connection holds a token.
    placeholder = "http://127.0.0.1:1/oauth/token"
    text = probe_config(tmp_path, proxy_conf_text, proxy_conf, manifests, placeholder)
    secret = (tmp_path / "secrets" / "orders-client-secret").read_text().strip()
    server = oauth_server(clients=[client("orders-app", secret, ("orders.read", "orders.write"))])
    lk = latchkey(text.replace(placeholder, server.token_url))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        wait_for_probe(lk.admin_port, sidecar[probe]["httpGet"]["path"], 200)


def test_readiness_and_liveness_hold_while_the_token_endpoint_is_down(
        tmp_path, latchkey, manifests, sidecar, proxy_conf_text, proxy_conf):
    """Issue 14 §1: a token endpoint that is down at pod start must not fail the startup or readiness
    probe (the app would never start; every pod would leave its Service); /connections/health says it."""
    text = probe_config(tmp_path, proxy_conf_text, proxy_conf, manifests,
                        f"http://127.0.0.1:{closed_port()}/oauth/token")
    lk = latchkey(text)
    # 503 comes at once (the first fetch in flight); the refused fetch is what this test waits for.
    body = wait_for_probe(lk.admin_port, "/connections/health", 503, saying="refused")
    assert '"connection":"orders"' in body, body
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe_status(lk.admin_port, sidecar[probe]["httpGet"]["path"])[0] == 200, probe


# -- the README's steps, rendered -----------------------------------------------------------------

def kubectl_kustomize(folder) -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the file checks above cover the kustomization's resources")
    done = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_apply_k_after_the_readme_steps_overwrites_nothing_they_created(pod):
    rendered = kubectl_kustomize(K8S)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    assert not any(kind == "Secret" for kind, _ in kinds), f"a Secret in the kustomization replaces the real one: {kinds}"
    created = readme_created_objects()
    assert {"latchkey-credentials", "latchkey-intercept-ca", "latchkey-intercept-ca-cert"} <= set(created)
    for name, doc in created.items():
        assert (doc["kind"], name) not in kinds, f"kubectl apply -k would replace {name}"
    # Every Secret and ConfigMap the pod mounts exists after the steps: rendered or created by the README.
    available = kinds | {(d["kind"], n) for n, d in created.items()}
    for volume in pod["volumes"]:
        if "secret" in volume:
            assert ("Secret", volume["secret"]["secretName"]) in available, volume
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in available, volume


# -- the sidecar component on someone else's Deployment --------------------------------------------

COMPONENT = K8S / "components" / "latchkey-sidecar"


@pytest.fixture(scope="module")
def component_render(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("component-app")
    (folder / "deployment.yaml").write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: web
          image: shop:1
          env: [{name: MODE, value: prod}]
        - name: worker
          image: shop-worker:1
      volumes:
        - {name: cache, emptyDir: {}}
""")
    # kustomize loads components by relative path only.
    (folder / "kustomization.yaml").write_text(
        f"resources: [deployment.yaml]\ncomponents: [{os.path.relpath(COMPONENT, folder)}]\n")
    return {d["metadata"]["name"]: d for d in kubectl_kustomize(folder)}


def test_component_adds_the_sidecar_as_in_the_example(component_render, sidecar):
    pod = component_render["shop"]["spec"]["template"]["spec"]
    added = pod["initContainers"][0]
    assert added["name"] == "latchkey" and added["restartPolicy"] == "Always"
    # The same container as deployment.yaml's, except: no interception CA, and the user on the container
    # (the component leaves the pod's security context to the app).
    for field in ("image", "args", "env", "ports", "startupProbe", "readinessProbe", "livenessProbe", "resources"):
        assert added[field] == sidecar[field], field
    example_mounts = [m for m in sidecar["volumeMounts"] if m["name"] != "latchkey-intercept-ca"]
    assert added["volumeMounts"] == example_mounts
    assert added["securityContext"]["runAsUser"] == 10001 and added["securityContext"]["readOnlyRootFilesystem"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "cache" in volumes, "the Deployment's own volumes stay"
    for mount in added["volumeMounts"]:
        assert mount["name"] in volumes, mount
    assert volumes["latchkey-credentials"]["secret"]["secretName"] == "latchkey-credentials"
    annotations = component_render["shop"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(container_port(added, "admin"))


def test_component_points_the_first_container_at_the_proxy(component_render, app):
    containers = component_render["shop"]["spec"]["template"]["spec"]["containers"]
    web, worker = containers
    assert web["env"] == [{"name": "MODE", "value": "prod"}], "the container's own variables stay"
    assert web["envFrom"] == [{"configMapRef": {"name": "latchkey-proxy-env"}}]
    assert "envFrom" not in worker
    variables = component_render["latchkey-proxy-env"]["data"]
    example = env_of(app)
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        assert variables[name] == example[name], name
