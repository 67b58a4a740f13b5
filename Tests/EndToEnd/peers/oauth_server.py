#!/usr/bin/env python3
"""A real OAuth 2.0 authorization server for Latchkey's end-to-end tests.

Built on Authlib's AuthorizationServer (authlib.integrations.flask_oauth2) with Flask; nothing
about the protocol is hand-written here: client authentication (client_secret_basic,
client_secret_post, private_key_jwt and client_secret_jwt per RFC 7523) and the grants are Authlib's. This file only
supplies the in-memory models, a token store, request recording and a few test-control endpoints.

Usage:
  oauth_server.py --port 0 --client app1:secret1:read,write \\
                  --jwt-client svc1:/path/pub.pem:read --expires-in 3
  oauth_server.py --port 0 --clients clients.json
  oauth_server.py --port 0 --code-client crm:secret:contacts.read,offline_access:http://127.0.0.1:9901/oauth/callback \\
                  --auto-approve alice

Also in clients.json: "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"] with "public_key_path" and
"jwt_issuer" (the JWT bearer grant, RFC 7523 §2.1); "tls_subject_dn" (tls_client_auth) or "tls_cert_path"
(self_signed_tls_client_auth), checked from the headers an nginx TLS front sets (see make_mtls_auth).

clients.json: [{"client_id": "app1", "client_secret": "s", "scopes": ["read"],
                "auth_methods": ["client_secret_basic", "client_secret_post"]},
               {"client_id": "svc1", "public_key_path": "pub.pem", "scopes": ["read"],
                "auth_methods": ["private_key_jwt"]},
               {"client_id": "svc2", "certificate_path": "cert.pem", "auth_methods": ["private_key_jwt"]},
               {"client_id": "hs1", "client_secret": "...", "auth_methods": ["client_secret_jwt"]}]
A client with "certificate_path" is verified with the certificate's key and must name it by x5t#S256 or
x5t in the assertion header (as Entra ID does). Assertion algorithms: RS/PS/ES 256-512 and EdDSA for
private_key_jwt, HS256/384/512 for client_secret_jwt (signatures verified by joserfc).

Endpoints:
  POST /oauth/token                           token endpoint (Authlib): client_credentials, authorization_code
                                              (PKCE required, S256 only), refresh_token (rotation: the old
                                              refresh token is revoked when a new one is issued)
  GET  /oauth/authorize                       consent page (login + approve form); with --auto-approve USER it
                                              redirects to the client at once, and ?auto_approve=USER does the
                                              same per request (a test follows the redirect without a browser)
  POST /oauth/authorize                       the form: user=alice&approve=yes (anything else denies:
                                              error=access_denied)
  POST /oauth/revoke                          RFC 7009 revocation (refresh or access token; revoking a refresh
                                              token also revokes the access token issued with it)
  GET  /.well-known/oauth-authorization-server RFC 8414 metadata (also /.well-known/openid-configuration)
  ANY  /api/resource                          protected resource: 200 {client_id, scope, method,
                                              body_length, headers} or 401 (any method)
  GET  /_stats                                recorded token requests (counts, last requests) and
                                              resource hits (resource_requests, _ok, _unauthorized)
  GET  /_tokens                               every access token issued (test-only: lets a test
                                              look for them in a proxy's log); "refresh_tokens": every
                                              refresh token in issue order [{refresh_token, client_id,
                                              valid, issued_at}] (test-only: direct replays, log scans);
                                              "code_verifiers": every PKCE verifier received (log scans)
  POST /_reset                                clear recordings (tokens stay valid)
  POST /_revoke_all                           revoke every issued token (forces upstream 401s)
  POST /_fail                                 JSON {"status": 503, "count": N}: fail the next N token requests
  POST /_delay                                JSON {"ms": N}: answer every token request N ms late (0: off);
                                              with "grant_type": G only requests of that grant (e.g. refresh_token)
  POST /_revoke_on_issue                      JSON {"enabled": true}: every token is issued already revoked
  POST /_set_secret                           JSON {"client_id": ID, "client_secret": S}: rotate a secret
  POST /_metadata                             JSON {"mtls_base": URL}: publish RFC 8705 mtls_endpoint_aliases;
                                              {"issuer": S}: publish a wrong issuer (""/null: back to normal);
                                              answers {"mtls_front_secret"} for the TLS front's X-MTLS-Front header
  GET  /_grants                               authorization-code state: codes pending, refresh tokens (valid /
                                              revoked, by prefix), revocations received, and every authorization
                                              request ("authorizations": client_id, redirect_uri, scope,
                                              code_challenge_method, has_code_challenge) and code issued/exchanged
                                              ("codes_issued", "codes_exchanged": the verifier was checked)

/_stats also counts token requests as they arrive: "token_requests_received" (by grant type in
"received_by_grant") and "token_requests_in_flight" (received, not yet answered; by grant type in
"in_flight_by_grant"), so a test can act while a (delayed) request is being handled.

With --port 0 the chosen port is printed as "LISTENING <port>" on stdout.

Authorization-code clients: --code-client ID:SECRET:SCOPES:REDIRECT_URI (an empty SECRET is a public
client, token_endpoint_auth_method "none"), or "grant_types": ["authorization_code", "refresh_token"]
and "redirect_uris" in clients.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, g, jsonify, redirect, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, import_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from werkzeug.serving import make_server

ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "tls_client_auth",
                    "self_signed_tls_client_auth"]
CODE_AUTH_METHODS = ALL_AUTH_METHODS + ["none"]  # public clients: PKCE alone
CODE_LIFETIME = 300
SIGNING_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HMAC_ALGS = ["HS256", "HS384", "HS512"]

# ---------------------------------------------------------------------------------------------
# MODELS (in memory)


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None = None
    scopes: list[str] = field(default_factory=list)
    auth_methods: list[str] = field(default_factory=lambda: ["client_secret_basic", "client_secret_post"])
    public_key_pem: str | None = None
    grant_types: list[str] = field(default_factory=lambda: ["client_credentials"])
    redirect_uris: list[str] = field(default_factory=list)
    # issue 10 §3: a registered certificate (its key verifies the assertion, its thumbprint must be in it)
    certificate_pem: str | None = None
    # RFC 8705 §2.1.2 tls_client_auth_subject_dn (as nginx's $ssl_client_s_dn writes it, RFC 2253)
    tls_subject_dn: str | None = None
    # RFC 8705 §2.2: the registered self-signed certificate (PEM)
    tls_cert_pem: str | None = None
    # RFC 7523 §3 item 1: the `iss` of this client's jwt-bearer grant assertions (default: client_id)
    jwt_issuer: str | None = None

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in self.auth_methods

    def check_response_type(self, response_type):
        return "authorization_code" in self.grant_types and response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


@dataclass
class IssuedToken:
    access_token: str
    client_id: str
    scope: str
    issued_at: float
    expires_in: int
    refresh_token: str | None = None
    revoked: bool = False

    def is_valid(self, now: float) -> bool:
        return not self.revoked and now < self.issued_at + self.expires_in

    # Authlib TokenMixin (refresh_token grant, revocation)
    def check_client(self, client):
        return client.client_id == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_revoked(self):
        return self.revoked

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in


@dataclass
class User:
    name: str

    def get_user_id(self):
        return self.name


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_auth_time(self):
        return int(self.expires_at - CODE_LIFETIME)


class State:
    """Everything mutable, behind one lock (Werkzeug serves requests on threads)."""

    def __init__(self, clients: dict[str, Client]):
        self.lock = threading.Lock()
        self.clients = clients
        self.tokens: dict[str, IssuedToken] = {}
        self.requests: list[dict] = []
        self.fail_status = 0
        self.fail_count = 0
        self.fail_until = 0.0  # time.time() before which every token request fails (fail_status)
        self.fail_retry_after: str | None = None  # Retry-After sent with injected failures
        self.fail_error = "temporarily_unavailable"
        self.delay_ms = 0
        self.delay_grant_type: str | None = None
        self.received_by_grant: dict[str, int] = {}
        self.in_flight_by_grant: dict[str, int] = {}
        self.max_in_flight = 0  # most token requests being answered at once (since start or _reset)
        self.authorizations: list[dict] = []
        self.codes_issued = 0
        self.codes_exchanged = 0
        self.code_verifiers: list[str] = []
        self.revoke_on_issue = False
        self.resource_requests: list[dict] = []
        self.codes: dict[str, AuthCode] = {}
        self.revocations: list[dict] = []
        self.mtls_base: str | None = None
        self.issuer_override: str | None = None

    def record(self, entry: dict):
        with self.lock:
            self.requests.append(entry)

    def stats(self) -> dict:
        with self.lock:
            per_client: dict[str, int] = {}
            for r in self.requests:
                key = r.get("client_id") or "<unknown>"
                per_client[key] = per_client.get(key, 0) + 1
            return {
                "resource_requests": len(self.resource_requests),
                "resource_requests_ok": sum(1 for r in self.resource_requests if r["status"] == 200),
                "resource_requests_unauthorized": sum(1 for r in self.resource_requests if r["status"] == 401),
                "last_resource_requests": self.resource_requests[-20:],
                "token_requests": len(self.requests),
                "token_requests_ok": sum(1 for r in self.requests if r["status"] == 200),
                "per_client": per_client,
                "last_requests": self.requests[-20:],
                "token_requests_received": sum(self.received_by_grant.values()),
                "received_by_grant": dict(self.received_by_grant),
                "token_requests_in_flight": sum(self.in_flight_by_grant.values()),
                "in_flight_by_grant": dict(self.in_flight_by_grant),
                "token_requests_max_in_flight": self.max_in_flight,
                "tokens_issued": len(self.tokens),
                "tokens_valid": sum(1 for t in self.tokens.values() if t.is_valid(time.time())),
            }


# ---------------------------------------------------------------------------------------------
# CLIENT AUTHENTICATION: private_key_jwt (RFC 7523 §2.2) through Authlib


class PrivateKeyJWTAuth(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, audiences_fn, state: State):
        super().__init__(validate_jti=True, leeway=60)
        self._audiences_fn = audiences_fn
        self._state = state
        self._seen_jti: set[str] = set()

    def get_audiences(self):
        return self._audiences_fn()

    def validate_jti(self, claims, jti):
        key = f"{claims['sub']}:{jti}"
        with self._state.lock:
            if key in self._seen_jti:
                return False
            self._seen_jti.add(key)
            return True

    def resolve_client_public_key(self, client):
        if client.certificate_pem and not client.public_key_pem:
            return import_key(certificate_public_key_pem(client.certificate_pem))
        return import_key(client.public_key_pem)

    ALGORITHMS = SIGNING_ALGS

    def __call__(self, query_client, request):
        # private_key_jwt and client_secret_jwt both arrive as client_assertion: each handles its own algorithms.
        header, _ = jwt_segments(request.form.get("client_assertion") or "")
        if not isinstance(header, dict) or header.get("alg") not in self.ALGORITHMS:
            return None
        return super().__call__(query_client, request)

    def process_assertion_claims(self, assertion, resolve_key):
        # joserfc accepts only its "recommended" algorithms by default, which leaves out PS*, ES512, EdDSA.
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=self.ALGORITHMS)
        except JoseError as e:
            raise InvalidClientError(description=e.description) from e
        self.verify_claims(token.claims)
        check_certificate_thumbprint(self._state.clients.get(token.claims.get("sub")), token.header)
        return token.claims


class ClientSecretJWTAuth(PrivateKeyJWTAuth):
    """client_secret_jwt (RFC 7523 §2.2, OIDC Core §9): HS256/384/512 keyed with the client secret."""
    CLIENT_AUTH_METHOD = "client_secret_jwt"
    ALGORITHMS = HMAC_ALGS

    def resolve_client_public_key(self, client):
        return OctKey.import_key(client.client_secret or "")


def certificate_public_key_pem(certificate_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def certificate_thumbprint(certificate_pem: str, algorithm) -> str:
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode()


def check_certificate_thumbprint(client, header: dict):
    """As Microsoft Entra ID does for certificate credentials: a client registered with a certificate
    must name it by `x5t#S256` (RFC 7515 §4.1.8) or `x5t` (§4.1.7), and every thumbprint given must match."""
    if client is None or not client.certificate_pem:
        return
    given = {name: header[name] for name in ("x5t#S256", "x5t") if name in header}
    if not given:
        raise InvalidClientError(description="the assertion names no certificate (x5t#S256 or x5t)")
    expected = {"x5t#S256": certificate_thumbprint(client.certificate_pem, hashes.SHA256()),
                "x5t": certificate_thumbprint(client.certificate_pem, hashes.SHA1())}
    for name, value in given.items():
        if value != expected[name]:
            raise InvalidClientError(description=f"{name} does not match the registered certificate")


# ---------------------------------------------------------------------------------------------
# GRANTS


# ---------------------------------------------------------------------------------------------
# CLIENT AUTHENTICATION: mutual TLS (RFC 8705 §2), with the TLS terminated by nginx in front
#
# nginx (`ssl_verify_client optional_no_ca`, the run's CA as `ssl_client_certificate`) passes
# $ssl_client_verify, $ssl_client_s_dn and $ssl_client_escaped_cert as X-SSL-Client-* headers, and
# X-MTLS-Front: a secret only nginx and this server know, so a client talking to this server directly
# cannot forge them.

MTLS_FRONT_SECRET = secrets.token_urlsafe(16)


def _pem_body(pem: str) -> str:
    return "".join(ln for ln in pem.strip().splitlines() if not ln.startswith("-----"))


def make_mtls_auth(method: str, state: State):
    def authenticate(query_client, req):
        headers = req.headers
        if not secrets.compare_digest(headers.get("X-MTLS-Front", ""), MTLS_FRONT_SECRET):
            return None  # not through the TLS front: no certificate was seen
        client = query_client(req.form.get("client_id") or "")
        if client is None or not client.check_endpoint_auth_method(method, "token"):
            return None
        verify = headers.get("X-SSL-Client-Verify", "")
        if method == "tls_client_auth":
            # §2.1: the chain verified against the trusted CA, and the subject DN registered for the client.
            if verify == "SUCCESS" and client.tls_subject_dn and headers.get("X-SSL-Client-S-DN") == client.tls_subject_dn:
                return client
            return None
        # §2.2: any certificate (the chain is not checked), but exactly the one registered.
        import urllib.parse
        presented = urllib.parse.unquote(headers.get("X-SSL-Client-Cert", ""))
        if presented and client.tls_cert_pem and _pem_body(presented) == _pem_body(client.tls_cert_pem):
            return client
        return None
    return authenticate


# ---------------------------------------------------------------------------------------------
# GRANT: JWT bearer (RFC 7523 §2.1), verified with the client's registered public key


def make_jwt_bearer_grant(state: State, audiences_fn):
    seen_jti: set[str] = set()

    class JWTBearer(JWTBearerGrant):
        def resolve_issuer_client(self, issuer):
            with state.lock:
                for c in state.clients.values():
                    if self.GRANT_TYPE in c.grant_types and (c.jwt_issuer or c.client_id) == issuer:
                        return c
            return None

        def resolve_client_public_key(self, client):
            return import_key(client.public_key_pem)

        def authenticate_user(self, subject):
            return User(subject)

        def has_granted_permission(self, client, user):
            return True

        def get_audiences(self):
            return audiences_fn()

        def process_assertion_claims(self, assertion):
            claims = super().process_assertion_claims(assertion)
            jti = claims.get("jti")
            with state.lock:
                if not jti or jti in seen_jti:
                    raise InvalidRequestError("assertion jti missing or replayed")  # RFC 7523 §3 item 7
                seen_jti.add(jti)
            self._claims = claims
            return claims

        def create_token_response(self):
            # Google's shape: scopes in the assertion's `scope` claim rather than the form.
            scope = self.request.payload.scope or self._claims.get("scope")
            if scope:
                scope = self.request.client.get_allowed_scope(scope)
            token = self.generate_token(scope=scope, user=self.request.user, include_refresh_token=False)
            self.save_token(token)
            return 200, token, self.TOKEN_RESPONSE_HEADER

    return JWTBearer


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS


class S256Only(CodeChallenge):
    """RFC 7636 with the challenge required and `plain` refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        # Authlib lets a request without a challenge through (PKCE optional for confidential clients);
        # here every authorization request needs one, with the method named explicitly (RFC 7636 §4.3
        # defaults to plain). A code always has a challenge, so Authlib then requires the verifier.
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


def make_code_grants(state: State):
    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = CODE_AUTH_METHODS

        def save_authorization_code(self, code, req):
            data = req.payload.data
            with state.lock:
                state.codes_issued += 1
                state.codes[code] = AuthCode(
                    code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri, scope=req.scope,
                    user=req.user, code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"), expires_at=time.time() + CODE_LIFETIME)

        def query_authorization_code(self, code, client):
            with state.lock:
                item = state.codes.get(code)
            if item and item.client_id == client.client_id and time.time() < item.expires_at:
                return item
            return None

        def delete_authorization_code(self, authorization_code):
            # Authlib calls this once the code (and, with PKCE, the verifier) has been checked.
            with state.lock:
                state.codes_exchanged += 1
                state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.user

    class RefreshTokenGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = CODE_AUTH_METHODS
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

        def authenticate_refresh_token(self, refresh_token):
            with state.lock:
                for t in state.tokens.values():
                    if t.refresh_token == refresh_token and not t.revoked:
                        return t
            return None

        def authenticate_user(self, credential):
            return User(credential.client_id)

        def revoke_old_credential(self, credential):
            with state.lock:
                credential.revoked = True  # the old refresh token (and its access token) stop working

    return AuthorizationCodeGrant, RefreshTokenGrant


def make_revocation(state: State):
    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = CODE_AUTH_METHODS

        def query_token(self, token_string, token_type_hint):
            with state.lock:
                for t in state.tokens.values():
                    if token_string in (t.access_token, t.refresh_token):
                        return t
            return None

        def revoke_token(self, token, req):
            with state.lock:
                token.revoked = True
                state.revocations.append({"time": time.time(), "client_id": token.client_id,
                                          "token_type_hint": req.form.get("token_type_hint")})

    return Revocation


grants_to_register = [ClientCredentialsGrant]


# ---------------------------------------------------------------------------------------------
# APP


def jwt_segments(assertion: str) -> tuple[dict | None, dict | None]:
    """The unverified header and claims of a compact JWS (for recording only)."""
    out = []
    for part in assertion.split(".")[:2]:
        try:
            out.append(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
        except ValueError:
            out.append(None)
    while len(out) < 2:
        out.append(None)
    return out[0], out[1]


def claimed_client_id(req) -> str | None:
    """The client a failed request claimed to be: Basic user, or the assertion's unverified `sub`."""
    if req.authorization and req.authorization.username:
        return req.authorization.username
    assertion = req.form.get("client_assertion")
    if assertion:
        try:
            payload = assertion.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sub")
        except (IndexError, ValueError):
            return None
    return None


def create_app(state: State, expires_in: int, public_url_fn, advertised_auth_methods=None, fixed_access_token=None) -> Flask:
    app = Flask(__name__)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "client_credentials": expires_in, "authorization_code": expires_in, "refresh_token": expires_in,
        JWTBearerGrant.GRANT_TYPE: expires_in,
    }
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True  # refresh tokens for clients allowed the refresh_token grant

    def query_client(client_id):
        return state.clients.get(client_id)

    def save_token(token, req):
        g.auth_method = getattr(req, "auth_method", None)
        g.client_id = req.client.client_id
        with state.lock:
            state.tokens[token["access_token"]] = IssuedToken(
                access_token=token["access_token"],
                client_id=req.client.client_id,
                scope=token.get("scope", ""),
                issued_at=time.time(),
                expires_in=int(token.get("expires_in", expires_in)),
                refresh_token=token.get("refresh_token"),
                revoked=state.revoke_on_issue,
            )

    if fixed_access_token:
        # Every grant issues this one access token (the peer benchmark checks the exact bearer upstream).
        app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = lambda *args, **kwargs: fixed_access_token
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    token_endpoint = lambda: public_url_fn() + "/oauth/token"  # noqa: E731
    server.register_client_auth_method(
        PrivateKeyJWTAuth.CLIENT_AUTH_METHOD,
        PrivateKeyJWTAuth(lambda: [token_endpoint(), public_url_fn()], state),
    )
    server.register_client_auth_method(
        ClientSecretJWTAuth.CLIENT_AUTH_METHOD,
        ClientSecretJWTAuth(lambda: [token_endpoint(), public_url_fn()], state),
    )
    for method in ("tls_client_auth", "self_signed_tls_client_auth"):
        server.register_client_auth_method(method, make_mtls_auth(method, state))
    for grant in grants_to_register:
        server.register_grant(grant)
    server.register_grant(make_jwt_bearer_grant(state, lambda: [token_endpoint(), public_url_fn()]))
    code_grant, refresh_grant = make_code_grants(state)
    server.register_grant(code_grant, [S256Only(required=True)])
    server.register_grant(refresh_grant)
    revocation = make_revocation(state)
    server.register_endpoint(revocation)

    def approve_page(error=None):
        args = request.args.to_dict(flat=True)
        hidden = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in args.items())
        return (
            "<!doctype html><title>Consent</title><h1>Authorize</h1>"
            f"<p>{args.get('client_id', '')} asks for: {args.get('scope', '')}</p>"
            + (f"<p>{error}</p>" if error else "")
            + f'<form method="post" action="/oauth/authorize?{request.query_string.decode()}">{hidden}'
            '<input name="user" value="alice"> <button name="approve" value="yes">Approve</button>'
            '<button name="approve" value="no">Deny</button></form>'
        )

    @app.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        with state.lock:
            state.authorizations.append({
                "method": request.method, "client_id": request.args.get("client_id"),
                "redirect_uri": request.args.get("redirect_uri"), "scope": request.args.get("scope"),
                "response_type": request.args.get("response_type"),
                "code_challenge_method": request.args.get("code_challenge_method"),
                "has_code_challenge": bool(request.args.get("code_challenge")),
                "has_state": bool(request.args.get("state")),
            })
        try:
            grant = server.get_consent_grant(end_user=None)  # validates client, redirect_uri, PKCE up front
        except Exception as e:  # noqa: BLE001 - shown to the person, as a real server would
            if hasattr(e, "redirect_uri") and getattr(e, "redirect_uri", None):
                return server.handle_error_response(request, e)
            return approve_page(error=getattr(e, "description", str(e))), 400
        if request.method == "GET":
            user = request.args.get("auto_approve") or app.config.get("AUTO_APPROVE")
            if not user:
                return approve_page()
            return server.create_authorization_response(grant=grant, grant_user=User(user))
        approved = request.form.get("approve") == "yes" and request.form.get("user")
        return server.create_authorization_response(grant=grant, grant_user=User(request.form["user"]) if approved else None)

    @app.post("/oauth/revoke")
    def revoke():
        return server.create_endpoint_response(revocation.ENDPOINT_NAME)

    @app.get("/_grants")
    def grants_state():
        now = time.time()
        with state.lock:
            refresh = [
                {"prefix": t.refresh_token[:6], "client_id": t.client_id, "valid": not t.revoked, "scope": t.scope}
                for t in state.tokens.values() if t.refresh_token
            ]
            return jsonify(codes_pending=sum(1 for c in state.codes.values() if now < c.expires_at),
                           refresh_tokens=refresh, refresh_tokens_valid=sum(1 for r in refresh if r["valid"]),
                           revocations=list(state.revocations), authorizations=list(state.authorizations),
                           codes_issued=state.codes_issued, codes_exchanged=state.codes_exchanged)

    @app.post("/oauth/token")
    def token():
        form = request.form.to_dict(flat=True)
        if "client_secret" in form:
            form["client_secret"] = "<redacted>"
        if "client_assertion" in form:
            form["client_assertion"] = "<jwt>"
        if "assertion" in form:
            form["assertion"] = "<jwt>"
        for secret_field in ("refresh_token", "code", "code_verifier"):
            if secret_field in form:
                form[secret_field] = form[secret_field][:6] + "..."
        entry = {
            "time": time.time(),
            "form": form,
            "headers": {k: v for k, v in request.headers.items() if k.lower() not in ("authorization",)},
            "has_basic_auth": request.headers.get("Authorization", "").lower().startswith("basic "),
            "content_type": request.content_type,
            "grant_type": form.get("grant_type"),
            "scope": form.get("scope"),
            "audience": form.get("audience"),
            "x_tenant": request.headers.get("X-Tenant"),
        }
        if request.form.get("client_assertion"):
            # unverified, for the tests' eyes: {alg, kid, typ} and {iss, sub, aud, ...}
            entry["assertion_header"], entry["assertion_claims"] = jwt_segments(request.form["client_assertion"])
        if request.form.get("assertion"):  # the jwt-bearer grant's own assertion (RFC 7523 §2.1)
            entry["grant_assertion_header"], entry["grant_assertion_claims"] = jwt_segments(request.form["assertion"])
        if request.headers.get("X-MTLS-Front") == MTLS_FRONT_SECRET:
            entry["tls_client_verify"] = request.headers.get("X-SSL-Client-Verify")
            entry["tls_client_dn"] = request.headers.get("X-SSL-Client-S-DN")
            entry["tls_client_cert"] = bool(request.headers.get("X-SSL-Client-Cert"))
        grant_type = form.get("grant_type") or "<none>"
        status = 0
        with state.lock:
            if request.form.get("code_verifier"):
                state.code_verifiers.append(request.form["code_verifier"])
            failing = state.fail_count > 0 or time.time() < state.fail_until
            if failing:
                state.fail_count = max(0, state.fail_count - 1)
                status = state.fail_status
            delay_ms = state.delay_ms if state.delay_grant_type in (None, grant_type) else 0
            state.received_by_grant[grant_type] = state.received_by_grant.get(grant_type, 0) + 1
            state.in_flight_by_grant[grant_type] = state.in_flight_by_grant.get(grant_type, 0) + 1
            state.max_in_flight = max(state.max_in_flight, sum(state.in_flight_by_grant.values()))
        try:
            return answer_token_request(entry, form, failing, status, delay_ms)
        finally:
            with state.lock:
                state.in_flight_by_grant[grant_type] -= 1

    def answer_token_request(entry, form, failing, status, delay_ms):
        if delay_ms > 0:
            time.sleep(delay_ms / 1000)
        if failing:
            entry.update(status=status, client_id=None, auth_method=None)
            state.record(entry)
            with state.lock:
                error, retry_after = state.fail_error, state.fail_retry_after
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return jsonify(error=error, error_description="injected failure"), status, headers
        response = server.create_token_response()
        entry.update(
            status=response.status_code,
            client_id=getattr(g, "client_id", None) or form.get("client_id") or claimed_client_id(request),
            auth_method=getattr(g, "auth_method", None),
        )
        if response.status_code != 200:
            try:
                entry["error"] = json.loads(response.get_data(as_text=True)).get("error")
            except ValueError:
                pass
        state.record(entry)
        return response

    def metadata():
        base = public_url_fn()
        extra = {}
        if state.mtls_base:  # RFC 8705 §5
            extra["mtls_endpoint_aliases"] = {"token_endpoint": state.mtls_base + "/oauth/token"}
        if state.issuer_override:
            extra["issuer"] = state.issuer_override
        return jsonify(
            **extra,
            **({} if state.issuer_override else {"issuer": base}),
            token_endpoint=base + "/oauth/token",
            token_endpoint_auth_methods_supported=advertised_auth_methods or CODE_AUTH_METHODS,
            authorization_endpoint=base + "/oauth/authorize",
            revocation_endpoint=base + "/oauth/revoke",
            revocation_endpoint_auth_methods_supported=CODE_AUTH_METHODS,
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_signing_alg_values_supported=SIGNING_ALGS,
            grant_types_supported=[gt.GRANT_TYPE for gt in grants_to_register] + ["authorization_code", "refresh_token",
                                                                                  JWTBearerGrant.GRANT_TYPE],
            scopes_supported=sorted({s for c in state.clients.values() for s in c.scopes}),
            response_types_supported=["code"],
        )

    app.add_url_rule("/.well-known/oauth-authorization-server", "oas_metadata", metadata)
    app.add_url_rule("/.well-known/openid-configuration", "oidc_metadata", metadata)

    @app.route("/api/resource", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def resource():
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        body = request.get_data()
        with state.lock:
            issued = state.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            valid = issued is not None and issued.is_valid(time.time())
            state.resource_requests.append({
                "time": time.time(), "method": request.method, "status": 200 if valid else 401,
                "client_id": issued.client_id if issued else None, "body_length": len(body),
            })
        if not valid:
            return jsonify(error="invalid_token"), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return jsonify(client_id=issued.client_id, scope=issued.scope, method=request.method,
                       body_length=len(body), headers=dict(request.headers.items()))

    @app.get("/_stats")
    def stats():
        return jsonify(state.stats())

    @app.get("/_tokens")
    def tokens():
        with state.lock:
            return jsonify(access_tokens=list(state.tokens), code_verifiers=list(state.code_verifiers), refresh_tokens=[
                {"refresh_token": t.refresh_token, "client_id": t.client_id, "valid": not t.revoked,
                 "issued_at": t.issued_at}
                for t in state.tokens.values() if t.refresh_token])

    @app.post("/_reset")
    def reset():
        with state.lock:
            state.requests.clear()
            state.resource_requests.clear()
            state.received_by_grant.clear()
            state.max_in_flight = 0
            state.fail_count = 0
            state.fail_until = 0.0
            state.fail_retry_after = None
            state.fail_error = "temporarily_unavailable"
            state.delay_ms = 0
            state.delay_grant_type = None
            state.revoke_on_issue = False
        return jsonify(ok=True)

    @app.post("/_revoke_all")
    def revoke_all():
        with state.lock:
            for t in state.tokens.values():
                t.revoked = True
            n = len(state.tokens)
        return jsonify(revoked=n)

    @app.post("/_fail")
    def fail():
        body = request.get_json(force=True, silent=True) or {}
        # {"status": 503, "count": N} fails the next N token requests; {"seconds": S} every request for the
        # next S seconds; "retry_after" adds that Retry-After header, "error" replaces the error code.
        with state.lock:
            state.fail_status = int(body.get("status", 503))
            seconds = float(body.get("seconds", 0))
            state.fail_count = int(body.get("count", 0 if seconds > 0 else 1))
            state.fail_until = time.time() + seconds if seconds > 0 else 0.0
            state.fail_retry_after = str(body["retry_after"]) if "retry_after" in body else None
            state.fail_error = str(body.get("error", "temporarily_unavailable"))
        return jsonify(ok=True)

    @app.post("/_delay")
    def delay():
        body = request.get_json(force=True, silent=True) or {}
        with state.lock:
            state.delay_ms = max(0, int(body.get("ms", 0)))
            state.delay_grant_type = body.get("grant_type") or None
        return jsonify(ok=True)

    @app.post("/_metadata")
    def set_metadata():
        """JSON {"mtls_base": URL} publishes mtls_endpoint_aliases; {"issuer": S} publishes a wrong issuer."""
        body = request.get_json(force=True, silent=True) or {}
        with state.lock:
            if "mtls_base" in body:
                state.mtls_base = body["mtls_base"] or None
            if "issuer" in body:
                state.issuer_override = body["issuer"] or None
        return jsonify(ok=True, mtls_front_secret=MTLS_FRONT_SECRET)

    @app.post("/_revoke_on_issue")
    def revoke_on_issue():
        body = request.get_json(force=True, silent=True) or {}
        with state.lock:
            state.revoke_on_issue = bool(body.get("enabled", True))
        return jsonify(ok=True)

    @app.post("/_set_secret")
    def set_secret():
        body = request.get_json(force=True, silent=True) or {}
        with state.lock:
            client = state.clients.get(body.get("client_id"))
            if client is None:
                return jsonify(error="unknown client"), 404
            client.client_secret = body.get("client_secret")
        return jsonify(ok=True)

    return app


# ---------------------------------------------------------------------------------------------
# CLI


def load_clients(args) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    if args.clients:
        with open(args.clients) as f:
            for c in json.load(f):
                pem = certificate = None
                if c.get("public_key_path"):
                    with open(c["public_key_path"]) as k:
                        pem = k.read()
                if c.get("certificate_path"):
                    with open(c["certificate_path"]) as k:
                        certificate = k.read()
                clients[c["client_id"]] = Client(
                    client_id=c["client_id"],
                    client_secret=c.get("client_secret"),
                    scopes=list(c.get("scopes", [])),
                    auth_methods=list(c.get("auth_methods") or (["private_key_jwt"] if pem or certificate else ["client_secret_basic", "client_secret_post"])),
                    public_key_pem=pem,
                    certificate_pem=certificate,
                    grant_types=list(c.get("grant_types", ["client_credentials"])),
                    redirect_uris=list(c.get("redirect_uris", [])),
                    tls_subject_dn=c.get("tls_subject_dn"),
                    tls_cert_pem=open(c["tls_cert_path"]).read() if c.get("tls_cert_path") else None,
                    jwt_issuer=c.get("jwt_issuer"),
                )
    for spec in args.client:
        client_id, secret, *rest = spec.split(":", 2)
        scopes = rest[0].split(",") if rest and rest[0] else []
        clients[client_id] = Client(client_id=client_id, client_secret=secret, scopes=scopes)
    for spec in args.code_client:
        client_id, secret, scopes, redirect_uri = spec.split(":", 3)
        clients[client_id] = Client(
            client_id=client_id, client_secret=secret or None, scopes=[s for s in scopes.split(",") if s],
            auth_methods=["client_secret_basic", "client_secret_post"] if secret else ["none"],
            grant_types=["authorization_code", "refresh_token"], redirect_uris=[redirect_uri])
    for spec in args.jwt_client:
        client_id, path, *rest = spec.split(":", 2)
        scopes = rest[0].split(",") if rest and rest[0] else []
        with open(path) as k:
            clients[client_id] = Client(client_id=client_id, scopes=scopes, auth_methods=["private_key_jwt"], public_key_pem=k.read())
    return clients


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--expires-in", type=int, default=3600, help="access token lifetime in seconds")
    parser.add_argument("--fixed-access-token", help="issue this access token on every grant (benchmarks)")
    parser.add_argument("--public-url", help="issuer / base URL as clients see it (e.g. behind a TLS front)")
    parser.add_argument("--clients", help="JSON file with a list of clients")
    parser.add_argument("--advertise-auth-methods", metavar="METHOD,METHOD",
                        help="token_endpoint_auth_methods_supported in the metadata (default: all three)")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET[:SCOPE,SCOPE]",
                        help="a client_secret_basic/client_secret_post client (repeatable)")
    parser.add_argument("--jwt-client", action="append", default=[], metavar="ID:PUBLIC_KEY_PEM[:SCOPE,SCOPE]",
                        help="a private_key_jwt client (repeatable)")
    parser.add_argument("--code-client", action="append", default=[], metavar="ID:SECRET:SCOPES:REDIRECT_URI",
                        help="an authorization_code + refresh_token client; empty SECRET = public client (repeatable)")
    parser.add_argument("--auto-approve", metavar="USER", help="consent without a form, as USER")
    args = parser.parse_args(argv)

    state = State(load_clients(args))
    holder = {}
    public_url = lambda: args.public_url or f"http://{args.host}:{holder['port']}"  # noqa: E731
    advertised = args.advertise_auth_methods.split(",") if args.advertise_auth_methods else None
    app = create_app(state, args.expires_in, public_url, advertised, args.fixed_access_token)
    app.config["AUTO_APPROVE"] = args.auto_approve
    http = make_server(args.host, args.port, app, threaded=True)
    holder["port"] = http.server_port
    print(f"LISTENING {http.server_port}", flush=True)
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
