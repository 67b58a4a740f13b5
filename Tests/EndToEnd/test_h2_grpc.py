"""Issue 13: gRPC through Latchkey, HTTP/2 on both sides. A grpcio client speaks h2c to the proxy (route
mode); the proxy injects the credential as `authorization` metadata and forwards over h2c (`http2: always`)
to a grpcio server, which reports what it received. Unary, server-streaming and bidirectional calls, and a
status carried in trailers, client streaming with trailing metadata, a message larger than both flow-control
windows, and routing by the call's authority (`:authority`, the gRPC channel's default authority)."""

import json
import queue
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
  - name: grpc-by-host
    host: grpc.local
    upstream: http://127.0.0.1:{grpc_server}
    http2: always
    connection: svc
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


def test_client_streaming_and_trailing_metadata(channel):
    _, ch = channel
    reply, call = ch.stream_unary(ECHO + "ClientStream").with_call(
        iter([f"m{i}".encode() for i in range(50)]), metadata=OWN, timeout=TIMEOUT)
    assert reply == b"|".join(f"m{i}".encode() for i in range(50))
    trailing = dict((m.key, m.value) for m in call.trailing_metadata())
    assert trailing["x-seen-authorization"] == f"Bearer {BEARER}"  # what the server saw, via HTTP/2 trailers
    assert call.code() == grpc.StatusCode.OK


def test_a_large_message_crosses_both_flow_controls(channel):
    _, ch = channel
    payload = bytes(range(256)) * 4096  # 1 MiB: many 64 KiB windows on both sides of the proxy
    assert ch.stream_unary(ECHO + "ClientStream")(iter([payload]), timeout=TIMEOUT) == payload


def test_bidirectional_streaming_is_interactive(channel):
    # Each answer arrives before the next request is sent: nothing is held until the request stream ends.
    _, ch = channel
    outbox: queue.Queue = queue.Queue()

    def requests():
        while (item := outbox.get(timeout=TIMEOUT)) is not None:
            yield item

    responses = ch.stream_stream(ECHO + "Bidi")(requests(), metadata=OWN, timeout=TIMEOUT)
    for i in range(20):
        outbox.put(f"ping {i}".encode())
        assert json.loads(next(responses))["body"] == f"ping {i}"
    outbox.put(None)
    assert list(responses) == []


def test_calls_route_by_authority(channel):
    lk, _ = channel
    with grpc.insecure_channel(f"127.0.0.1:{lk.port}", options=[("grpc.default_authority", "grpc.local")]) as ch:
        reply = json.loads(ch.unary_unary(ECHO + "Unary")(b"by host", metadata=OWN, timeout=TIMEOUT))
    assert reply["authorization"] == [f"Bearer {BEARER}"]
    lk.wait_for_log(r"POST \S+/latchkey\.test\.Echo/Unary 200 .*latchkey\.route=grpc-by-host")
