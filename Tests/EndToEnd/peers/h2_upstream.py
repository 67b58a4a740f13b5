"""A scriptable HTTP/2 upstream (h2c with prior knowledge) for the e2e tests, on the pure-Python `h2` library:
what nginx cannot be made to do on request, such as request trailers, RST_STREAM with a chosen code and a
GOAWAY that leaves a stream unprocessed. Runs in a thread of the test process: `H2Upstream().start()`.

Paths (a `<key>` counts its own requests, so tests do not see each other):
    /echo/...             200, JSON {method, path, headers, body_length, body_sha256, trailers, connection, stream}
                          followed by response trailers `x-body-sha256` and `grpc-status: 0`
    /reset/<code>/<key>   RST_STREAM with error code <code> instead of a response
    /refuse-once/<key>    the key's first request: RST_STREAM(REFUSED_STREAM); later ones echo
    /goaway-once/<key>    the key's first request: GOAWAY whose last-stream-id excludes it, then close; later
                          ones echo
    /hits/<key>           {"count": requests seen for key}
"""

import hashlib
import json
import socket
import threading

import h2.config
import h2.connection
import h2.events


class H2Upstream:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits: dict[str, int] = {}
        self.connections = 0
        # (connection number, "ping" | "goaway") as the proxy sent them.
        self.frames: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.stopped = False

    def start(self) -> "H2Upstream":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(client, number), daemon=True).start()

    def _count(self, key: str) -> int:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]

    def _serve(self, client: socket.socket, number: int):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        client.sendall(conn.data_to_send())
        streams: dict[int, dict] = {}
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = {"headers": event.headers, "body": bytearray(), "trailers": []}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.TrailersReceived):
                        streams[event.stream_id]["trailers"] = [list(pair) for pair in event.headers]
                    elif isinstance(event, h2.events.StreamEnded):
                        if self._respond(conn, event.stream_id, streams.pop(event.stream_id), number) == "close":
                            client.sendall(conn.data_to_send())
                            return
                    elif isinstance(event, h2.events.PingReceived):
                        self.frames.append((number, "ping"))
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.frames.append((number, "goaway"))
                        client.sendall(conn.data_to_send())
                        return
                client.sendall(conn.data_to_send())
        except OSError:
            return
        finally:
            client.close()

    def _respond(self, conn, stream_id: int, request: dict, number: int):
        headers = dict(request["headers"])
        path = headers.get(":path", "/")
        parts = path.split("?")[0].strip("/").split("/")
        kind = parts[0]
        key = parts[-1]
        if kind in ("reset", "refuse-once", "goaway-once"):
            n = self._count(key)
            if kind == "reset":
                conn.reset_stream(stream_id, error_code=int(parts[1]))
                return None
            if kind == "refuse-once" and n == 1:
                conn.reset_stream(stream_id, error_code=7)
                return None
            if kind == "goaway-once" and n == 1:
                conn.close_connection(error_code=0, last_stream_id=max(stream_id - 2, 0))
                return "close"
        if kind == "hits":
            with self.lock:
                body = json.dumps({"count": self.hits.get(key, 0)}).encode()
            conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json")])
            conn.send_data(stream_id, body, end_stream=True)
            return None
        body_bytes = bytes(request["body"])
        echo = {
            "method": headers.get(":method"), "path": path,
            "headers": [[name, value] for name, value in request["headers"]],
            "body_length": len(body_bytes), "body_sha256": hashlib.sha256(body_bytes).hexdigest(),
            "trailers": request["trailers"], "connection": number, "stream": stream_id,
        }
        body = (json.dumps(echo) + "\n").encode()
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json")])
        conn.send_data(stream_id, body)
        conn.send_headers(
            stream_id, [("x-body-sha256", hashlib.sha256(body).hexdigest()), ("grpc-status", "0")], end_stream=True)
        return None
