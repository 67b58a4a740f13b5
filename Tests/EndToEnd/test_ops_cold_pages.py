"""Issue 11 (memory): once the listeners are bound, the pages of code and read-only data that only
starting used (YAML and config decoding, TLS set-up, Foundation) go back to the kernel; after each reload,
and once the first token fetches are done, the executable's code past the request path's does
(`cold_pages: release`, the default); `keep` leaves them. Each release logs resident file-backed memory
before and after.

The binary is copied and synced first: the kernel reclaims only clean pages that this process alone maps,
and a binary written moments ago by the build (or mapped by another test's process) may be neither."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from latchkey_e2e import REPO_ROOT, header_values, latchkey_binary, via_requests
from oauth_fixtures import api_get, client, oauth_config, route

RELEASED = r"cold_pages: released code and read-only data pages the request path does not use: " \
           r"resident file-backed memory (\d+\.\d) -> (\d+\.\d) MiB"
RELOADED = r"configuration reloaded \(SIGHUP\)"
OAUTH_SECRET = "e2e-cold-pages-oauth-secret-5d21c7"


def routes(echo) -> str:
    return f"""unmatched: deny
log_level: info
routes:
  - name: one
    path_prefix: /one/
    upstream: {echo.url}
"""


@pytest.fixture
def own_binary(tmp_path, monkeypatch):
    # Not under /tmp: on a tmpfs the copy's pages would be swap-backed, not clean file pages.
    directory = REPO_ROOT / ".test-work" / "cold-pages" / tmp_path.name
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "latchkey"
    shutil.copy2(latchkey_binary(), copy)
    with open(copy, "rb") as f:
        os.fsync(f.fileno())
    monkeypatch.setenv("LATCHKEY_BIN", str(copy))
    yield
    shutil.rmtree(directory)  # a running process keeps its unlinked binary


def resident_file_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"(?m)^RssFile:\s+(\d+) kB", status.read()).group(1))


def proxies_a_request(lk) -> None:
    reply = via_requests(lk.base_url + "/one/hello")
    assert reply.status == 200, reply.body


def test_the_start_releases_what_only_starting_used(own_binary, latchkey, echo):
    lk = latchkey(routes(echo))
    m = lk.wait_for_log(RELEASED)
    before, after = float(m.group(1)), float(m.group(2))
    # Most of what a start maps is start-up code (the binary alone has 17 MiB of it): at least a third goes.
    assert after < before * 2 / 3, m.group(0)
    proxies_a_request(lk)  # the request path reads back what it needs
    assert resident_file_kib(lk.proc.pid) < before * 1024


def mapped_kib(pid: int, library: str) -> int:
    """Resident KiB of the file pages of `library`'s read-only mappings in process `pid`."""
    total, current = 0, False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                current = len(fields) >= 6 and os.path.basename(fields[5]).startswith(library) and "w" not in fields[1]
            elif current and fields[0] in ("Rss:", "Anonymous:"):
                total += int(fields[1]) * (1 if fields[0] == "Rss:" else -1)
    return total


def test_library_pages_another_process_maps_leave_too(own_binary, latchkey, echo, tmp_path):
    """Start-up parses the CA bundle with libcrypto. Pages another process maps as well cannot be reclaimed,
    but they leave Latchkey's page tables: they no longer count in its resident memory."""
    other = subprocess.Popen(
        [sys.executable, "-c", "import ssl, sys, time; ssl.create_default_context(); print('ready', flush=True); "
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        shared_before = mapped_kib(other.pid, "libcrypto")
        assert shared_before > 1024  # the other process keeps a good part of libcrypto mapped
        lk = latchkey(routes(echo))
        lk.wait_for_log(RELEASED)
        assert mapped_kib(lk.proc.pid, "libcrypto") < 512
        proxies_a_request(lk)
    finally:
        other.stdin.close()
        other.wait(timeout=10)


def test_a_reload_releases_the_code_it_ran(latchkey, echo):
    lk = latchkey(routes(echo))
    lk.wait_for_log(RELEASED)
    offset = lk.log_offset()
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(RELOADED, after=offset)
    lk.wait_for_log(RELEASED, after=offset)
    proxies_a_request(lk)


def test_keep_releases_nothing(latchkey, echo):
    lk = latchkey("cold_pages: keep\n" + routes(echo))
    # Reloads run one at a time, each after the start has finished: once the second is logged, the start
    # and the first reload would have logged a release.
    for _ in range(2):
        offset = lk.log_offset()
        lk.proc.send_signal(signal.SIGHUP)
        lk.wait_for_log(RELOADED, after=offset)
    assert "cold_pages" not in lk.log_text()
    proxies_a_request(lk)


def test_the_first_token_fetches_release_the_code_they_ran(latchkey, oauth_server, echo):
    """The warm-up's token fetch runs after the start-up release (the token client, JSON decoding): once it
    is done, the executable's cold code goes back once more, and the token is in use."""
    srv = oauth_server([client("app1", OAUTH_SECRET)])
    config = oauth_config(
        [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"],
        [route("api", echo.url)], top=["log_level: info"])
    lk = latchkey(config, env={"OAUTH_SECRET": OAUTH_SECRET})
    lk.wait_for_log(r"connection oauth: Connected")
    lk.wait_for_log(RELEASED + r" \(after the first token fetches\)")
    reply = api_get(lk)
    assert reply.status == 200, reply.body
    [token] = srv.tokens()
    assert header_values(reply.json(), "Authorization") == [f"Bearer {token}"]
