#!/usr/bin/env python3
"""gRPC echo server for Latchkey's end-to-end tests (grpcio, no generated code: messages are raw bytes).

Every reply is JSON saying what the server received, so tests assert what reached it through the proxy:
    /latchkey.test.Echo/Unary         {"authorization": [...], "metadata": {...}, "body": "<request>"}
    /latchkey.test.Echo/ServerStream  request b"N:SIZE": N replies of SIZE bytes, each b"<index>:" + padding
    /latchkey.test.Echo/ClientStream  one reply after the last request: the messages joined by b"|", with
                                      trailing metadata x-seen-authorization (what arrived as authorization)
    /latchkey.test.Echo/Bidi          one reply per request, as each arrives: the Unary JSON for each message
    /latchkey.test.Echo/Fail          aborts with NOT_FOUND and details "no such thing" (a status in trailers)
Listens on 127.0.0.1 (h2c), prints `LISTENING <port>` on stdout.

Usage: grpc_echo_server.py [--port 0]
"""

import argparse
import json
import sys
from concurrent import futures

import grpc


def describe(request: bytes, context) -> bytes:
    metadata = list(context.invocation_metadata())
    return json.dumps({
        "authorization": [v for k, v in metadata if k == "authorization"],
        "metadata": {k: v for k, v in metadata if isinstance(v, str)},
        "body": request.decode(errors="replace"),
    }).encode()


def unary(request, context):
    return describe(request, context)


def server_stream(request, context):
    count, size = (int(x) for x in request.decode().split(":"))
    for index in range(count):
        prefix = f"{index}:".encode()
        yield prefix + b"x" * max(0, size - len(prefix))


def client_stream(requests, context):
    seen = [v for k, v in context.invocation_metadata() if k == "authorization"]
    context.set_trailing_metadata((("x-seen-authorization", ",".join(seen)),))
    return b"|".join(requests)


def bidi(requests, context):
    for request in requests:
        yield describe(request, context)


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("latchkey.test.Echo", handlers),))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    sys.stdout.write(f"LISTENING {port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
