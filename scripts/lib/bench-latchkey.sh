#!/usr/bin/env bash
# Proxy command for the peer benchmark (../shared/bench/run.sh --proxy-cmd), started by scripts/bench-peers:
# renders a minimal config from the BENCH_* variables the harness sets and execs the binary. Like the
# harness's own latchkey.sh, plus the credential shape: BENCH_CREDENTIAL=bearer (a static token) or
# oauth (client credentials against BENCH_OAUTH_TOKEN_URL, a token server that issues exactly
# $BENCH_TOKEN, so the harness's check of the upstream's Authorization passes and the run measures the
# cached-token path). BENCH_EVENT_LOOP=dispatch measures the Dispatch backend instead of epoll.
# BENCH_LOG_LEVEL (default info: an access-log line per request, as shipped) = warning measures without
# the access log, like for like with the peers, which the harness runs with theirs off. BENCH_WORKERS sets
# `workers` (default auto: one loop per CPU the process may use).
set -eu
: "${LATCHKEY:?set LATCHKEY to the built latchkey binary}"
conf=$BENCH_RUN_DIR/latchkey.yaml
mkdir -p "$BENCH_RUN_DIR"
if [ "$BENCH_MODE" = forward ]; then
    route="  - {host: \"${BENCH_UPSTREAM%%:*}\", connection: bench, upstream: \"$BENCH_UPSTREAM_URL\"}"
else
    route="  - {path_prefix: /, connection: bench, upstream: \"$BENCH_UPSTREAM_URL\"}"
fi
case "${BENCH_CREDENTIAL:-bearer}" in
    bearer) connection="  bench: {type: bearer, token: \"$BENCH_TOKEN\"}" ;;
    oauth)
        : "${BENCH_OAUTH_TOKEN_URL:?set BENCH_OAUTH_TOKEN_URL}"
        connection="  bench: {type: oauth2_client_credentials, token_url: \"$BENCH_OAUTH_TOKEN_URL\", client_id: bench, client_secret: bench-oauth-secret-0123456789, scopes: read}"
        ;;
    *) echo "BENCH_CREDENTIAL must be bearer or oauth" >&2; exit 2 ;;
esac
cat >"$conf" <<YAML
event_loop: ${BENCH_EVENT_LOOP:-epoll}
workers: ${BENCH_WORKERS:-auto}
log_level: ${BENCH_LOG_LEVEL:-info}
listen: $BENCH_LISTEN
admin: 127.0.0.1:$((BENCH_PORT + 1000))
unmatched: deny
connections:
$connection
routes:
$route
YAML
exec "$LATCHKEY" run --config "$conf"
