"""Issue 11: the event loops are sized to the CPUs the process may use. `workers:` (auto | 1..64) and
`event_loop:` (epoll | dispatch) choose them; the start-up line says how many, on which backend, and why;
`latchkey_event_loops{backend}` carries the count; a reload that changes them keeps the running loops.

Pinning uses `sched_setaffinity` in the child before exec (what `taskset -c 0` does)."""

from __future__ import annotations

import os
import re

import pytest

from latchkey_e2e import admin_get, run_latchkey_cli, via_requests, write_file

LOOPS_LINE = r"(\d+) event loops? \((epoll|dispatch)\): ([^\n]*)"
RELOADED = r"configuration reloaded \(file change\)"


def routes(echo) -> str:
    return f"""unmatched: deny
routes:
  - name: one
    path_prefix: /one/
    strip_prefix: true
    upstream: {echo.url}
"""


def loops_line(lk) -> re.Match:
    return lk.wait_for_log(LOOPS_LINE)


def event_loops_metric(lk) -> dict[str, int]:
    reply = admin_get(lk, "/metrics")
    assert reply.status == 200
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'(?m)^latchkey_event_loops\{backend="(\w+)"\} (\d+)$', reply.body.decode())}


def proxies_a_request(lk) -> None:
    reply = via_requests(lk.base_url + "/one/hello")
    assert reply.status == 200, reply.body
    assert reply.json()["path"] == "/hello"


def pin_to_cpu_0():
    os.sched_setaffinity(0, {0})


@pytest.mark.parametrize("setting, count, backend", [
    ("workers: 1", 1, "epoll"),
    ("workers: 2", 2, "epoll"),
    ("workers: 2\nevent_loop: dispatch", 2, "dispatch"),
    ("workers: 1\nevent_loop: epoll", 1, "epoll"),
])
def test_configured_loops_start_and_proxy(latchkey, echo, setting, count, backend):
    lk = latchkey(setting + "\n" + routes(echo))
    m = loops_line(lk)
    assert (int(m.group(1)), m.group(2)) == (count, backend), m.group(0)
    assert m.group(3).startswith(f"workers: {count} in the configuration (affinity "), m.group(0)
    proxies_a_request(lk)
    assert event_loops_metric(lk) == {backend: count}


def test_auto_follows_the_affinity_mask(latchkey, echo):
    mine = len(os.sched_getaffinity(0))
    lk = latchkey(routes(echo))
    m = loops_line(lk)
    assert m.group(2) == "epoll"  # the Linux default
    assert m.group(3).startswith(f"affinity {mine} CPU"), m.group(0)
    assert 1 <= int(m.group(1)) <= mine  # a cgroup quota may lower it, never raise it
    proxies_a_request(lk)


def test_auto_pinned_to_one_cpu_runs_one_loop(latchkey, echo):
    lk = latchkey("workers: auto\n" + routes(echo), preexec_fn=pin_to_cpu_0)
    m = loops_line(lk)
    assert m.group(1) == "1", m.group(0)
    assert re.match(r"affinity 1 CPU, cgroup quota ", m.group(3)), m.group(0)
    assert "event loops" not in m.group(0)  # singular
    proxies_a_request(lk)
    assert event_loops_metric(lk) == {"epoll": 1}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to fewer")
def test_more_workers_than_cpus_is_a_warning(latchkey, echo):
    lk = latchkey("workers: 3\n" + routes(echo), preexec_fn=pin_to_cpu_0)
    assert loops_line(lk).group(1) == "3"
    lk.wait_for_log(r"workers: 3 is more than the 1 CPU this process may use")
    proxies_a_request(lk)


@pytest.mark.parametrize("setting, key, message", [
    ("workers: 0", "workers", "allowed range 1 to 64"),
    ("workers: 65", "workers", "must be at most 64"),
    ("workers: lots", "workers", "expected 'auto' or a number of event loops from 1 to 64"),
    ("event_loop: kqueue", "event_loop", "expected one of: epoll, dispatch"),
])
def test_a_bad_value_is_a_config_error_naming_the_key(tmp_path, echo, setting, key, message):
    path = tmp_path / "bad.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: off\n" + setting + "\n" + routes(echo))
    for command in (["check", "--config", str(path)], ["run", "--config", str(path)]):
        done = run_latchkey_cli(command)
        assert done.returncode != 0, (command, done.stdout, done.stderr)
        output = done.stdout + done.stderr
        assert re.search(rf"{re.escape(str(path))}:3:\d+: {key}: ", output), output
        assert message in output, output


def test_check_shows_the_settings(tmp_path, echo):
    path = tmp_path / "ok.yaml"
    path.write_text("workers: 2\nevent_loop: dispatch\n" + routes(echo))
    done = run_latchkey_cli(["check", "--config", str(path)])
    assert done.returncode == 0, done.stderr
    assert "workers:   2 (event_loop dispatch)" in done.stdout


def test_a_reload_that_changes_them_keeps_the_running_loops(latchkey, echo):
    lk = latchkey("workers: 1\n" + routes(echo))
    assert loops_line(lk).group(1) == "1"
    mark = lk.log_offset()
    lk.rewrite_config("workers: 2\nevent_loop: dispatch\n" + routes(echo))
    lk.wait_for_log(RELOADED, after=mark)
    assert re.search(r"workers and event_loop change only with a restart; keeping 1 event loop \(epoll\)",
                     lk.log_text()[mark:]), lk.log_text()[mark:]
    assert event_loops_metric(lk) == {"epoll": 1}
    proxies_a_request(lk)
    # Back to what it runs with: nothing to warn about.
    mark = lk.log_offset()
    write_file(lk.config_path, open(lk.config_path).read().replace("workers: 2\nevent_loop: dispatch\n", "workers: 1\n"))
    lk.wait_for_log(RELOADED, after=mark)
    assert "change only with a restart" not in lk.log_text()[mark:]
