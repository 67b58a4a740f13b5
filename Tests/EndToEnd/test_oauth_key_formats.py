"""Issue 10 §3: client assertions in every key format and algorithm, certificate thumbprints,
assertion_audience and client_secret_jwt, each proven against the Authlib server, which verifies the
signature with the registered public key (or certificate, or client secret) through joserfc.

Keys and certificates are made in the run with the openssl CLI (PEM forms) and joserfc (JWKs). Every
private key's PEM body, every JWK's private member and every passphrase is searched for in latchkey's
log at teardown (`secrets=`), and in the output of `latchkey check` for the config errors.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc.jwk import import_key

from latchkey_e2e import run_latchkey_cli, run_openssl
from oauth_fixtures import api_get, oauth_config, route

PASSPHRASE = "e2e-key-passphrase-7c41"
HS_SECRET = "e2e-client-secret-jwt-0123456789abcdef0123456789abcdef0123456789abcdef"  # 70 bytes: HS512 too


@dataclass
class KeyPair:
    private: Path  # the form latchkey reads (PEM or JWK)
    public: Path  # SubjectPublicKeyInfo PEM, what the server verifies with
    leak_markers: list  # strings that must never show in any output


def _pem_marker(path: Path) -> str:
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("-----") and ":" not in ln]
    return lines[len(lines) // 2]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("key-formats")
    out: dict[str, KeyPair] = {}

    def pair(name: str, gen_args: list, convert: list | None = None):
        run_openssl("genpkey", *gen_args, "-out", f"{name}.pkcs8", cwd=d)
        run_openssl("pkey", "-in", f"{name}.pkcs8", "-pubout", "-out", f"{name}.pub", cwd=d)
        path = d / f"{name}.pkcs8"
        if convert:
            run_openssl(*convert, "-in", f"{name}.pkcs8", "-out", f"{name}.key", cwd=d)
            path = d / f"{name}.key"
        out[name] = KeyPair(path, d / f"{name}.pub", [_pem_marker(path), _pem_marker(d / f"{name}.pkcs8")])

    rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    pair("rsa-pkcs8", rsa)
    pair("rsa-pkcs1", rsa, ["rsa", "-traditional"])  # BEGIN RSA PRIVATE KEY
    pair("rsa-traditional-encrypted", rsa, ["rsa", "-traditional", "-aes256", "-passout", f"pass:{PASSPHRASE}"])
    for curve in ("P-256", "P-384", "P-521"):
        pair(f"ec-{curve}-sec1", ["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}"], ["ec"])  # BEGIN EC PRIVATE KEY
    pair("ec-P-256-pkcs8-encrypted", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
         ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", f"pass:{PASSPHRASE}"])  # BEGIN ENCRYPTED PRIVATE KEY
    pair("ed25519", ["-algorithm", "ed25519"])
    for name in ("rsa-pkcs8", "ec-P-384-sec1", "ed25519"):  # JWKs of the same keys
        jwk = import_key(out[name].private.read_text()).as_dict(private=True)
        path = d / f"{name}.jwk"
        path.write_text(json.dumps(jwk))
        out[f"{name}-jwk"] = KeyPair(path, out[name].public, [jwk["d"]])
    # certificates: one for the RSA key, one for an unrelated key
    for name, key in (("rsa-cert", "rsa-pkcs8"), ("other-cert", "ec-P-256-sec1")):
        run_openssl("req", "-x509", "-new", "-key", str(out[key].private), "-subj", f"/CN={name}", "-days", "2",
                    "-out", f"{name}.pem", cwd=d)
        out[name] = KeyPair(d / f"{name}.pem", d / f"{name}.pem", [])
    return out


def key_connection(srv, pair: KeyPair, alg: str, client_id: str = "svc1", extra=()):
    """Connection lines and the `secrets:` block for a private_key_jwt client with `pair`'s key."""
    conn = [f"token_url: {srv.token_url}", f"client_id: {client_id}", "client_auth: private_key_jwt",
            'private_key: "{{secret:signing_key}}"', f"signing_alg: {alg}", *extra]
    top = ["secrets:", f"  signing_key: {{file: {pair.private}}}"]
    return conn, top


def assert_token_request(srv, alg: str, client_id: str, method: str = "private_key_jwt") -> dict:
    ok = srv.ok_token_requests()
    assert len(ok) == 1, srv.stats()
    req = ok[0]
    assert req["auth_method"] == method
    assert req["form"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert not req["has_basic_auth"] and "client_secret" not in req["form"]
    assert req["assertion_header"]["alg"] == alg
    claims = req["assertion_claims"]
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["jti"] and claims["exp"] > claims["iat"]
    return req


CASES = [  # (key form, algorithm)
    ("rsa-pkcs1", "RS256"), ("rsa-pkcs8", "RS384"), ("rsa-pkcs1", "RS512"),
    ("rsa-pkcs8", "PS256"), ("rsa-pkcs1", "PS384"), ("rsa-pkcs8", "PS512"),
    ("ec-P-256-sec1", "ES256"), ("ec-P-384-sec1", "ES384"), ("ec-P-521-sec1", "ES512"),
    ("ed25519", "EdDSA"),
    ("rsa-traditional-encrypted", "PS256"), ("ec-P-256-pkcs8-encrypted", "ES256"),
    ("rsa-pkcs8-jwk", "RS256"), ("ec-P-384-sec1-jwk", "ES384"), ("ed25519-jwk", "EdDSA"),
]


@pytest.mark.parametrize("form,alg", CASES, ids=[f"{f}-{a}" for f, a in CASES])
def test_private_key_jwt_key_forms_and_algorithms(latchkey, oauth_server, keys, form, alg):
    pair = keys[form]
    srv = oauth_server([{"client_id": "svc1", "public_key_path": str(pair.public), "scopes": ["read"],
                         "auth_methods": ["private_key_jwt"]}])
    extra = ["private_key_passphrase: ${KEY_PASSPHRASE}"] if "encrypted" in form else []
    conn, top = key_connection(srv, pair, alg, extra=extra)
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top), env={"KEY_PASSPHRASE": PASSPHRASE},
                  secrets=pair.leak_markers)
    lk.wait_for_log(r"connection oauth: Connected")
    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "svc1"
    req = assert_token_request(srv, alg, "svc1")
    assert req["assertion_claims"]["aud"] == srv.token_url
    assert "x5t#S256" not in req["assertion_header"] and "x5t" not in req["assertion_header"]


@pytest.mark.parametrize("thumbprint,headers", [
    (None, {"x5t#S256"}), ("sha1", {"x5t"}), ("both", {"x5t#S256", "x5t"}),
])
def test_certificate_thumbprint_in_assertion_header(latchkey, oauth_server, keys, thumbprint, headers):
    """The server knows only the certificate (as Entra ID does) and checks the thumbprint(s) named."""
    srv = oauth_server([{"client_id": "ent1", "certificate_path": str(keys["rsa-cert"].private),
                         "scopes": ["read"], "auth_methods": ["private_key_jwt"]}])
    extra = ['certificate: "{{secret:client_cert}}"'] + ([f"certificate_thumbprint: {thumbprint}"] if thumbprint else [])
    conn, top = key_connection(srv, keys["rsa-pkcs8"], "RS256", client_id="ent1", extra=extra)
    top.append(f"  client_cert: {{file: {keys['rsa-cert'].private}}}")
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top), secrets=keys["rsa-pkcs8"].leak_markers)
    lk.wait_for_log(r"connection oauth: Connected")
    reply = api_get(lk)
    assert reply.status == 200, reply.body
    req = assert_token_request(srv, "RS256", "ent1")
    assert {h for h in ("x5t#S256", "x5t") if h in req["assertion_header"]} == headers


def test_certificate_is_required_by_such_a_server(latchkey, oauth_server, keys):
    """Without `certificate`, a server that registered one refuses the assertion: the test above can fail."""
    srv = oauth_server([{"client_id": "ent1", "certificate_path": str(keys["rsa-cert"].private),
                         "auth_methods": ["private_key_jwt"]}])
    conn, top = key_connection(srv, keys["rsa-pkcs8"], "RS256", client_id="ent1")
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top))
    lk.wait_for_log(r"connection oauth: .*invalid_client")
    reply = api_get(lk)
    assert reply.status == 502 and "invalid_client" in reply.json()["detail"]
    assert srv.stats()["resource_requests"] == 0


def test_assertion_audience_overrides_aud(latchkey, oauth_server, keys):
    srv = oauth_server([{"client_id": "svc1", "public_key_path": str(keys["ed25519"].public),
                         "auth_methods": ["private_key_jwt"]}])
    conn, top = key_connection(srv, keys["ed25519"], "EdDSA", extra=[f"assertion_audience: {srv.issuer}"])
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top))
    lk.wait_for_log(r"connection oauth: Connected")
    assert api_get(lk).status == 200
    req = assert_token_request(srv, "EdDSA", "svc1")
    assert req["assertion_claims"]["aud"] == srv.issuer != srv.token_url


@pytest.mark.parametrize("alg", [None, "HS384", "HS512"])
def test_client_secret_jwt(latchkey, oauth_server, alg):
    srv = oauth_server([{"client_id": "hs1", "client_secret": HS_SECRET, "scopes": ["read"],
                         "auth_methods": ["client_secret_jwt"]}])
    conn = [f"token_url: {srv.token_url}", "client_id: hs1", "client_auth: client_secret_jwt",
            "client_secret: ${HS_SECRET}"] + ([f"signing_alg: {alg}"] if alg else [])
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env={"HS_SECRET": HS_SECRET})
    lk.wait_for_log(r"connection oauth: Connected")
    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "hs1"
    assert_token_request(srv, alg or "HS256", "hs1", method="client_secret_jwt")


def test_client_secret_jwt_wrong_secret_is_invalid_client(latchkey, oauth_server):
    srv = oauth_server([{"client_id": "hs1", "client_secret": HS_SECRET, "auth_methods": ["client_secret_jwt"]}])
    wrong = "x" * 40
    conn = [f"token_url: {srv.token_url}", "client_id: hs1", "client_auth: client_secret_jwt",
            "client_secret: ${HS_SECRET}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env={"HS_SECRET": wrong})
    lk.wait_for_log(r"connection oauth: .*invalid_client")
    reply = api_get(lk)
    assert reply.status == 502 and "invalid_client" in reply.json()["detail"]


def _check(tmp_path, yaml: str, env=None):
    path = tmp_path / "proxy.conf"
    path.write_text(yaml)
    return path, run_latchkey_cli(["check", "--offline", "--config", str(path)], env=env)


@pytest.mark.parametrize("case", [
    "alg-mismatch", "curve-mismatch", "no-passphrase", "wrong-passphrase", "public-jwk", "certificate-mismatch",
    "hmac-alg-for-private-key", "short-hmac-secret",
])
def test_key_problems_are_config_errors_naming_file_line_and_key(tmp_path, keys, case):
    token_url = "https://idp.example.com/token"
    pair, alg, extra, key, message = {
        "alg-mismatch": (keys["rsa-pkcs8"], "ES256", [], "private_key", "ES256 needs an EC private key on P-256"),
        "curve-mismatch": (keys["ec-P-384-sec1"], "ES256", [], "private_key", "not an EC key on secp384r1"),
        "no-passphrase": (keys["ec-P-256-pkcs8-encrypted"], "ES256", [], "private_key", "set private_key_passphrase"),
        "wrong-passphrase": (keys["rsa-traditional-encrypted"], "RS256", ["private_key_passphrase: ${WRONG}"],
                             "private_key", "cannot decrypt the private key"),
        "public-jwk": (None, "RS256", [], "private_key", "public key (no 'd')"),
        "certificate-mismatch": (keys["rsa-pkcs8"], "RS256", ['certificate: "{{secret:other_cert}}"'], "certificate",
                                 "does not belong to private_key"),
        "hmac-alg-for-private-key": (keys["rsa-pkcs8"], "HS256", [], "signing_alg", "does not fit client_auth"),
        "short-hmac-secret": (None, "HS256", [], "client_secret", "needs at least 32"),
    }[case]
    secrets_block = ["secrets:", f"  other_cert: {{file: {keys['other-cert'].private}}}"]
    if case == "public-jwk":
        public_jwk = tmp_path / "public.jwk"
        public_jwk.write_text(json.dumps(import_key(keys["rsa-pkcs8"].public.read_text()).as_dict()))
        secrets_block.append(f"  signing_key: {{file: {public_jwk}}}")
    elif pair is not None:
        secrets_block.append(f"  signing_key: {{file: {pair.private}}}")
    if case == "short-hmac-secret":
        conn = [f"token_url: {token_url}", "client_id: c", "client_auth: client_secret_jwt", "client_secret: ${SHORT}"]
    else:
        conn = [f"token_url: {token_url}", "client_id: c", "client_auth: private_key_jwt",
                'private_key: "{{secret:signing_key}}"', f"signing_alg: {alg}", *extra]
    yaml = oauth_config(conn, [route("api", "https://api.example.com")], top=secrets_block)
    env = {"WRONG": "not-the-passphrase-51", "SHORT": "short-secret-value"}
    path, done = _check(tmp_path, yaml, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    line = next(i + 1 for i, text in enumerate(yaml.splitlines()) if text.strip().startswith(f"{key}:"))
    assert f"{path}:{line}:" in output and f"connections.oauth.{key}" in output, output
    assert message in output, output
    for marker in (pair.leak_markers if pair else []) + [PASSPHRASE, env["WRONG"], env["SHORT"]]:
        assert marker not in output


def test_reload_to_a_key_that_does_not_fit_keeps_serving(latchkey, oauth_server, keys):
    """A reload whose key fails the load-time check is refused like any config error (file:line: key),
    and the proxy keeps serving with the previous key."""
    pair = keys["ec-P-256-sec1"]
    srv = oauth_server([{"client_id": "svc1", "public_key_path": str(pair.public), "auth_methods": ["private_key_jwt"]}])
    conn, top = key_connection(srv, pair, "ES256")
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top), secrets=pair.leak_markers)
    lk.wait_for_log(r"connection oauth: Connected")
    assert api_get(lk).status == 200

    mark = lk.log_offset()
    broken, top = key_connection(srv, keys["rsa-traditional-encrypted"], "RS256",
                                 extra=["private_key_passphrase: not-the-passphrase-83"])
    lk.rewrite_config(oauth_config(broken, [route("api", srv.url)], top=top))
    lk.wait_for_log(r"configuration reload \(file change\) failed; still serving the previous configuration", after=mark)
    log = lk.log_text()[mark:]
    assert f"{lk.config_path}:" in log and "connections.oauth.private_key" in log and "wrong private_key_passphrase" in log
    assert "not-the-passphrase-83" not in log and PASSPHRASE not in log
    assert api_get(lk).status == 200
