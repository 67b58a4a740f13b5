"""Issue 5: log_level / log_format in the config and `--log-level` / `--log-format` on `latchkey run`."""

from __future__ import annotations

import json
import re
import signal

from latchkey_e2e import run_latchkey_cli, via_requests

LISTENING = re.compile(r"^(proxy|admin) listening on \S+:\d+$")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|notice|warning|error|critical) ")


def config(echo, top: str = "") -> str:
    return top + f"""
routes:
  - name: logged
    path_prefix: /lg/
    strip_prefix: true
    upstream: {echo.url}
"""


def json_lines(text: str) -> list[dict]:
    """Every line but the two plain listening lines, parsed as JSON (fails on any other line)."""
    out = []
    for line in text.splitlines():
        if LISTENING.match(line):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}\n--- log ---\n{text}")
        assert isinstance(obj, dict), line
        for key in ("time", "level", "logger", "message"):
            assert key in obj, (key, line)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", obj["time"]), line
        out.append(obj)
    return out


def access_lines(objs: list[dict], route: str) -> list[dict]:
    return [o for o in objs if o.get("latchkey.route") == route and "latchkey.status" in o]


def test_text_is_the_default(latchkey, echo):
    lk = latchkey(config(echo))
    assert via_requests(lk.base_url + "/lg/text?q=1").status == 200
    line = lk.wait_for_log(r"(?m)^.*GET \S*/lg/text 200.*$").group(0)
    assert TEXT_LINE.match(line), line
    assert "latchkey.route=logged" in line and "latchkey.status=200" in line, line
    for other in lk.log_text().splitlines():
        assert LISTENING.match(other) or TEXT_LINE.match(other), other
        assert not other.startswith("{"), other


def test_json_from_the_config(latchkey, echo):
    lk = latchkey(config(echo, "log_format: json\n"))
    assert via_requests(lk.base_url + "/lg/json?secret=q").status == 200
    lk.wait_for_log(r'"latchkey.route":"logged"')

    # A failed reload's multi-line error stays one JSON line.
    mark = lk.log_offset()
    lk.rewrite_config(config(echo, "log_format: json\nbogus_top_level: 1\n"))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reload \(SIGHUP\) failed", after=mark)

    objs = json_lines(lk.log_text())
    (access,) = access_lines(objs, "logged")
    assert access["level"] == "info"
    assert access["latchkey.method"] == "GET"
    assert access["latchkey.status"] == "200"
    assert access["latchkey.path"] == "/lg/json"  # without the query
    assert "secret=q" not in lk.log_text()
    assert any(o["message"].startswith("latchkey ") and "serving" in o["message"] for o in objs)
    (failed,) = [o for o in objs if "reload (SIGHUP) failed" in o["message"]]
    assert failed["level"] == "error"
    assert "bogus_top_level" in failed["message"] and "\n" in failed["message"]


def test_cli_flags_override_the_config(latchkey, echo):
    """Config says text/info; `--log-format json --log-level warning` wins: JSON lines only, and no
    info-level access line."""
    lk = latchkey(config(echo, "log_format: text\nlog_level: info\n"),
                  args=["--log-format", "json", "--log-level", "warning"])
    assert via_requests(lk.base_url + "/lg/quiet").status == 200
    mark = lk.log_offset()
    lk.rewrite_config(config(echo, "log_format: text\nlog_level: info\nbogus_top_level: 1\n"))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reload \(SIGHUP\) failed", after=mark)
    objs = json_lines(lk.log_text())
    assert access_lines(objs, "logged") == [], objs
    assert {o["level"] for o in objs} <= {"warning", "error", "critical"}, objs


def test_log_level_from_the_config_and_flag(latchkey, echo):
    quiet = latchkey(config(echo, "log_level: warning\n"))
    assert via_requests(quiet.base_url + "/lg/a").status == 200
    loud = latchkey(config(echo, "log_level: warning\n"), args=["--log-level", "info"])
    assert via_requests(loud.base_url + "/lg/b").status == 200
    loud.wait_for_log(r"GET \S*/lg/b 200")
    # Same process order: by the time loud has logged its line, quiet has had as long to log its.
    assert "/lg/a" not in quiet.log_text()
    for line in quiet.log_text().splitlines():
        m = LISTENING.match(line) or TEXT_LINE.match(line)
        assert m, line
        assert m.group(1) in ("proxy", "admin", "warning", "error", "critical"), line


def test_bad_flag_values_exit_2(tmp_path, echo):
    path = tmp_path / "c.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: off\n" + config(echo))
    done = run_latchkey_cli(["run", "--config", str(path), "--log-format", "xml"])
    assert done.returncode == 2, done
    assert "--log-format must be text or json" in done.stderr
    done = run_latchkey_cli(["run", "--config", str(path), "--log-level", "loud"])
    assert done.returncode == 2, done
    assert "--log-level must be one of" in done.stderr and "warning" in done.stderr
