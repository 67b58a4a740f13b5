"""Issue 13: gRPC through Latchkey, HTTP/2 on both sides. A grpcio client speaks h2c to the proxy (route
mode); the proxy injects the credential as `authorization` metadata and forwards over h2c (`http2: always`)
to a grpcio server, which reports what it received. Unary, server-streaming and bidirectional calls, and a
status carried in trailers."""

import json
import subprocess
import sys

import grpc
import pytest

from latchkey_e2e import PEERS, TIMEOUT, closed_port, read_listening_port, stop_process

BEARER = "e2e-grpc-bearer-91c2d3e4f5"
ECHO = "/latchkey.test.Echo/"


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("grpc") / "grpc.log", "wb")
    proc = subprocess.Popen([sys.executable, str(PEERS / "grpc_echo_server.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=log)
    port = read_listening_port(proc, lambda: stop_process(proc, grace=5), lambda: "grpc echo server did not start")
    yield port
    stop_process(proc, grace=5)
    log.close()


@pytest.fixture(scope="module")
def channel(latchkey_module, grpc_server):
    lk = latchkey_module.start(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: grpc
    path_prefix: {ECHO}
    upstream: http://127.0.0.1:{grpc_server}
    http2: always
    connection: svc
  - name: dead
    path_prefix: /latchkey.test.Dead/
    upstream: http://127.0.0.1:{closed_port()}
    http2: always
    connection: svc
""", env={"E2E_BEARER": BEARER})
    with grpc.insecure_channel(f"127.0.0.1:{lk.port}") as channel:
        yield lk, channel


OWN = (("authorization", "Bearer the-clients-own"), ("x-request-tag", "t1"))


def test_unary_call_gets_the_injected_credential(channel):
    lk, ch = channel
    reply = json.loads(ch.unary_unary(ECHO + "Unary")(b"hello grpc", metadata=OWN, timeout=TIMEOUT))
    assert reply["authorization"] == [f"Bearer {BEARER}"]  # injected; the client's own is gone
    assert reply["metadata"]["x-request-tag"] == "t1"
    assert reply["body"] == "hello grpc"
    lk.wait_for_log(r"POST \S+/latchkey\.test\.Echo/Unary 200 .*latchkey\.protocol=h2.*latchkey\.route=grpc")


def test_server_streaming(channel):
    _, ch = channel
    replies = list(ch.unary_stream(ECHO + "ServerStream")(b"200:16384", metadata=OWN, timeout=TIMEOUT))
    assert len(replies) == 200
    assert all(r.startswith(f"{i}:".encode()) and len(r) == 16384 for i, r in enumerate(replies))


def test_bidirectional_streaming(channel):
    _, ch = channel
    call = ch.stream_stream(ECHO + "Bidi")((f"m{i}".encode() for i in range(25)), metadata=OWN, timeout=TIMEOUT)
    replies = [json.loads(r) for r in call]
    assert [r["body"] for r in replies] == [f"m{i}" for i in range(25)]
    assert all(r["authorization"] == [f"Bearer {BEARER}"] for r in replies)


def test_status_in_trailers_reaches_the_client(channel):
    _, ch = channel
    with pytest.raises(grpc.RpcError) as failure:
        ch.unary_unary(ECHO + "Fail")(b"x", metadata=OWN, timeout=TIMEOUT)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert failure.value.details() == "no such thing"


def test_many_concurrent_calls_on_one_channel(channel):
    _, ch = channel
    unary = ch.unary_unary(ECHO + "Unary")
    futures = [unary.future(f"c{i}".encode(), metadata=OWN, timeout=TIMEOUT) for i in range(100)]
    assert [json.loads(f.result())["body"] for f in futures] == [f"c{i}" for i in range(100)]


def test_proxy_errors_are_grpc_statuses(channel):
    # A call no route serves: the proxy answers it itself, as a gRPC status rather than a JSON body.
    _, ch = channel
    with pytest.raises(grpc.RpcError) as failure:
        ch.unary_unary("/other.Service/Call")(b"x", timeout=TIMEOUT)
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "no_route" in failure.value.details()
    with pytest.raises(grpc.RpcError) as failure:
        ch.unary_unary("/latchkey.test.Dead/Call")(b"x", timeout=TIMEOUT)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE  # 502 upstream_connect_failed
    assert "upstream_connect_failed" in failure.value.details() and "route dead" in failure.value.details()
