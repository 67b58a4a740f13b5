"""Issue 9: a bad config never crashes. Numbers far out of range (the overflows the review found),
YAML nested 5,000 deep and alias bombs are config errors: `latchkey check` reports them with file, line
and key, and a hot reload keeps the running proxy alive on its previous configuration."""

from __future__ import annotations

import re
import signal

import pytest

from latchkey_e2e import admin_get, run_latchkey_cli, via_requests, write_file

FAILED = r"configuration reload \(SIGHUP\) failed; still serving the previous configuration:"

BILLION_LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))


def good(echo) -> str:
    return f"""unmatched: deny
routes:
  - name: one
    path_prefix: /one/
    strip_prefix: true
    upstream: {echo.url}
"""


def route_with(echo, setting: str) -> str:
    return good(echo) + "".join(f"    {line}\n" for line in setting.splitlines())


# (id, config text from the echo upstream, key path the error must name or None, message fragment)
BAD = [
    ("max_retries", lambda e: route_with(e, "retry:\n  max_retries: 9223372036854775807"),
     "routes[0].retry.max_retries", "allowed range 0 to 100"),
    ("delay_ms", lambda e: route_with(e, "retry:\n  max_retries: 2\n  delay_ms: 9223372036854775000"),
     "routes[0].retry.delay_ms", "allowed range 0 to 3600000"),
    ("timeout_ms", lambda e: route_with(e, "timeout_ms: 99999999999999999999999"),
     "routes[0].timeout_ms", "allowed range 1 to 86400000"),
    ("deadline_ms", lambda e: route_with(e, "deadline_ms: 9223372036854775807"),
     "routes[0].deadline_ms", "allowed range"),
    ("idle_timeout", lambda e: good(e) + "limits:\n  idle_timeout_ms: 9223372036854775807\n",
     "limits.idle_timeout_ms", "allowed range"),
    ("shutdown_grace", lambda e: good(e) + "shutdown_grace_ms: -9223372036854775808\n",
     "shutdown_grace_ms", "allowed range 0 to 3600000"),
    ("deep_yaml", lambda e: good(e) + "x: " + "[" * 5000 + "]" * 5000 + "\n", None, "nested deeper than 64 levels"),
    ("deep_block_yaml", lambda e: good(e) + "".join(f"{' ' * i}k{i}:\n" for i in range(1500)), None,
     "nested deeper than 64 levels"),
    ("billion_laughs", lambda e: good(e) + BILLION_LAUGHS, None, "aliases expanded"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_check_reports_the_error_and_exits_cleanly(tmp_path, echo, case):
    _, make, key, fragment = case
    path = tmp_path / "proxy.conf"
    write_file(path, make(echo))
    done = run_latchkey_cli(["check", "--config", str(path)])
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])  # not a signal
    out = done.stdout + done.stderr
    assert fragment in out, out[-2000:]
    assert re.search(re.escape(str(path)) + r":\d+", out), out[-2000:]
    if key:
        assert key in out, out[-2000:]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_reload_refuses_it_and_keeps_serving(latchkey, echo, case):
    _, make, _, fragment = case
    lk = latchkey(good(echo))
    assert via_requests(lk.base_url + "/one/x").status == 200

    mark = lk.log_offset()
    lk.rewrite_config(make(echo))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(FAILED, after=mark)
    lk.wait_for_log(re.escape(fragment), after=mark)

    assert lk.proc.poll() is None
    reply = via_requests(lk.base_url + "/one/y")
    assert reply.status == 200, reply.body
    assert reply.json()["path"] == "/y"
    ready = admin_get(lk, "/readyz").json()
    assert fragment in ready.get("config_reload_error", ""), ready

    # and a good config afterwards still loads
    mark = lk.log_offset()
    lk.rewrite_config(good(echo).replace("/one/", "/two/"))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reloaded \(SIGHUP\)", after=mark)
    assert via_requests(lk.base_url + "/two/z").status == 200
