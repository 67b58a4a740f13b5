"""Helpers shared by the retry and redirect tests (issue 4): keyed paths on the echo upstream, so tests
sharing one upstream never mix their counts."""

import re
import uuid

from latchkey_e2e import via_requests


def new_key(tag: str) -> str:
    """A fresh key for the echo upstream's keyed paths (/flaky/<key>, /hits/<key>, ...)."""
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def hits(echo, key: str) -> dict:
    """What reached the echo upstream under `key`: count and each request's method, path, headers, body."""
    return via_requests(f"{echo.url}/hits/{key}").json()


def attempts_in_detail(body: dict) -> int:
    """Attempts a JSON error detail reports: "... after N attempt(s)" when the deadline ended the exchange,
    else the "attempt N: ..." entries."""
    listed = len(re.findall(r"\battempt \d+:", body["detail"]))
    m = re.search(r"after (\d+) attempt", body["detail"])
    return max(listed, int(m.group(1))) if m else listed
