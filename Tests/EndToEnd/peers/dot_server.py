#!/usr/bin/env python3
"""A second, independent OAuth 2.0 authorization server for Latchkey's end-to-end tests:
django-oauth-toolkit (DOT) in a self-contained Django project (this file is the settings, the URL
configuration and the entry point).

Like every Django deployment, every path ends in '/': the token endpoint is `/o/token/`, and Django's
CommonMiddleware answers `/o/token` (no slash) with a 301 to `/o/token/` — the symptom of issue 10.

  dot_server.py --port 0 --workdir DIR --client app1:secret1:read,write [--client ...] [--expires-in 3600]
                [--code-client crm:secret:http://127.0.0.1:9901/oauth/callback]

Prints `LISTENING <port>` on stdout once it serves. The database is sqlite in DIR (created and
migrated at start); each `--client` becomes a confidential client-credentials application
(client_secret_basic and client_secret_post both accepted, as DOT does by default); each
`--code-client` a confidential authorization-code application (PKCE, refresh tokens) for that one
redirect URI, with `skip_authorization` so that a signed-in user is redirected back at once. A request
with the test header `X-Test-User: NAME` counts as signed in as NAME (created on first use): this
stands in for Django's login page.

  POST /o/token/                                 token endpoint (RFC 6749 §4.4), DOT + oauthlib
  POST /o/revoke_token/                          RFC 7009 revocation
  GET  /o/authorize/                             authorization endpoint (not used by these tests)
  GET  /o/.well-known/openid-configuration/      OIDC discovery (trailing-slash form, DOT's own)
  GET  /.well-known/oauth-authorization-server/o RFC 8414 §3.1 metadata for the issuer http://HOST/o
  POST /b2c/token/?p=B2C_1_policy                a token endpoint routed on a query, as Azure AD B2C's
                                                 `?p=policy`: 400 unless p=B2C_1_policy, then DOT's
                                                 token endpoint (see `policy_token` for why it strips it)
  GET  /api/resource/                            a protected resource: 200 JSON with the token's
                                                 client and scope, 401 without a valid bearer token
  GET  /_test/state                              test hook: every request seen (method, path, query,
                                                 form keys, auth scheme, status) and the issued tokens

Nothing here is hardened: it is a test peer on loopback.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
from pathlib import Path

import django
from django.conf import settings

HERE = __name__

#: Every request seen, in order (the test hook), and its lock (the server runs requests on threads).
SEEN: list[dict] = []
SEEN_LOCK = threading.Lock()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--workdir", default=None, help="where the sqlite database goes (default: a temp dir)")
    p.add_argument("--client", action="append", default=[], help="ID:SECRET:scope1,scope2")
    p.add_argument("--code-client", action="append", default=[], help="ID:SECRET:REDIRECT_URI")
    p.add_argument("--expires-in", type=int, default=3600)
    return p.parse_args(argv)


def rsa_private_pem() -> str:
    """A fresh RSA key for OIDC (DOT needs one to serve its OpenID Connect discovery document)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def configure(workdir: Path, expires_in: int):
    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=HERE,
        USE_TZ=True,
        APPEND_SLASH=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "oauth2_provider",
        ],
        MIDDLEWARE=[
            f"{HERE}.RecordingMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            f"{HERE}.TestUserMiddleware",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "db.sqlite3")}},
        OAUTH2_PROVIDER={
            "SCOPES": {"read": "Read", "write": "Write", "openid": "OpenID Connect"},
            "ACCESS_TOKEN_EXPIRE_SECONDS": expires_in,
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": rsa_private_pem(),
            "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],  # the proxy's callback is on loopback http
        },
        LOGGING={"version": 1, "disable_existing_loggers": False,
                 "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr}},
                 "root": {"handlers": ["stderr"], "level": "INFO"}},
    )
    django.setup()


class RecordingMiddleware:
    """Records each request (never a secret: form keys only, the Authorization scheme only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/_test/"):
            return self.get_response(request)
        form_keys = list(request.POST.keys()) if request.method == "POST" else []
        client_id = request.POST.get("client_id") if request.method == "POST" else None
        auth = request.META.get("HTTP_AUTHORIZATION", "")
        query = request.META.get("QUERY_STRING", "")  # before a view may change it
        response = self.get_response(request)
        with SEEN_LOCK:
            SEEN.append({
                "method": request.method, "path": request.path, "query": query,
                "form_keys": form_keys, "form_client_id": client_id,
                "auth_scheme": auth.split(" ", 1)[0] if auth else None, "status": response.status_code,
            })
        return response


class TestUserMiddleware:
    """`X-Test-User: NAME` signs the request in as NAME (the test's stand-in for a login page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.META.get("HTTP_X_TEST_USER")
        if name:
            from django.contrib.auth.models import User
            request.user, _ = User.objects.get_or_create(username=name)
        return self.get_response(request)


def resource(request):
    """GET /api/resource/: DOT validates the bearer token (oauthlib's resource endpoint)."""
    from django.http import JsonResponse
    from oauth2_provider.oauth2_backends import get_oauthlib_core
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    token = oauth_request.access_token
    return JsonResponse({"ok": True, "client_id": token.application.client_id, "scope": token.scope,
                         "path": request.get_full_path()})


def policy_token(request):
    """POST /b2c/token/?p=B2C_1_policy: a provider that selects a policy with a query parameter.

    RFC 6749 §3.2 lets a token endpoint URI carry a query ("MUST be retained"), but oauthlib (under DOT)
    refuses every query on a POST ("URL query parameters are not allowed"); so this endpoint checks the
    policy it routes on, then hands DOT's own token view the request without the query."""
    from django.http import JsonResponse
    from oauth2_provider.views import TokenView
    if request.GET.get("p") != "B2C_1_policy":
        return JsonResponse({"error": "invalid_request", "error_description": "unknown or missing policy"}, status=400)
    request.META["QUERY_STRING"] = ""
    return TokenView.as_view()(request)


def test_state(request):
    """GET /_test/state: the requests seen and every access token issued (for the log scans)."""
    from django.http import JsonResponse
    from oauth2_provider.models import AccessToken
    with SEEN_LOCK:
        seen = list(SEEN)
    from oauth2_provider.models import RefreshToken
    return JsonResponse({
        "requests": seen, "access_tokens": list(AccessToken.objects.values_list("token", flat=True)),
        "refresh_tokens": [{"token": t, "revoked": r is not None}
                           for t, r in RefreshToken.objects.values_list("token", "revoked")],
    })


def urlpatterns_for():
    from django.urls import include, path
    from oauth2_provider import urls as dot_urls
    return [
        path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
        # RFC 8414 §3.1: the metadata of the issuer http://HOST/o at the origin's well-known path, as DOT's
        # docs recommend for a prefixed deployment.
        path("", include((dot_urls.metadata_urlpatterns, "dot_metadata"))),
        path("b2c/token/", policy_token),
        path("api/resource/", resource),
        path("_test/state", test_state),
    ]


def create_clients(specs):
    """Each `ID:SECRET:scopes` becomes a confidential client-credentials application (the secret is
    stored hashed, as DOT does by default)."""
    from oauth2_provider.models import Application
    for spec in specs:
        client_id, secret = spec.split(":", 2)[:2]
        Application.objects.create(
            name=client_id, client_id=client_id, client_secret=secret, client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS)


def create_code_clients(specs):
    """Each `ID:SECRET:REDIRECT_URI` becomes a confidential authorization-code application."""
    from oauth2_provider.models import Application
    for spec in specs:
        client_id, secret, redirect_uri = spec.split(":", 2)
        Application.objects.create(
            name=client_id, client_id=client_id, client_secret=secret, client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, redirect_uris=redirect_uri,
            skip_authorization=True)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dot-server-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configure(workdir, args.expires_in)
    from django.core.management import call_command
    call_command("migrate", interactive=False, verbosity=0)
    create_clients(args.client)
    create_code_clients(args.code_client)

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    server = ThreadedWSGIServer(("127.0.0.1", args.port), WSGIRequestHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    os.write(1, f"LISTENING {server.server_port}\n".encode())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if HERE == "__main__":
    # Django imports ROOT_URLCONF and the middleware by module name: make this module importable as
    # such under its own name too, with the URL patterns built after setup.
    HERE = "dot_server"
    sys.modules["dot_server"] = sys.modules["__main__"]

    def __getattr__(name):  # noqa: D401 - module-level lazy attribute for Django's URL resolver
        if name == "urlpatterns":
            return urlpatterns_for()
        raise AttributeError(name)

    main()
