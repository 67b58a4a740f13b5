"""A WebSocket echo server on Hypercorn (PyPI), an ASGI server that speaks WebSockets over HTTP/1.1 and over
HTTP/2 (RFC 8441: its SETTINGS announce ENABLE_CONNECT_PROTOCOL), on loopback. Plaintext: an HTTP/2 client uses
h2c with prior knowledge; with a certificate it serves TLS and offers `h2, http/1.1` by ALPN. Runs in a thread of the test process: `AsgiWebSocketEcho().start()`.

Every WebSocket it accepts echoes text and binary messages, except:
    "whoami"     answered with JSON {authorization: [...], http_version, path, subprotocols}: what reached it
    "close-me"   the server closes (1000)
The headers of every accepted handshake are kept in `handshakes` as (path, http_version, [(name, value)]).
"""

import asyncio
import json
import socket
import threading

from hypercorn.asyncio import serve
from hypercorn.config import Config


class AsgiWebSocketEcho:
    def __init__(self, certfile=None, keyfile=None):
        """With `certfile` and `keyfile`: TLS, ALPN `h2, http/1.1` (Hypercorn's default)."""
        self.certfile, self.keyfile = certfile, keyfile
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handshakes: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> "AsgiWebSocketEcho":
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(30):
            raise AssertionError("Hypercorn did not start")
        return self

    def _run(self):
        config = Config()
        # The listening socket made above (its port is known before the server runs): no race for a port.
        config.bind = [f"fd://{self.sock.fileno()}"]
        config.accesslog = None
        config.errorlog = None
        config.websocket_max_message_size = 64 * 1024 * 1024
        if self.certfile:
            config.certfile, config.keyfile = str(self.certfile), str(self.keyfile)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        self.loop.call_soon(self.ready.set)
        self.loop.run_until_complete(serve(self.app, config, shutdown_trigger=self.stopping.wait))

    def stop(self):
        if self.loop and self.stopping:
            self.loop.call_soon_threadsafe(self.stopping.set)
        if self.thread:
            self.thread.join(timeout=10)
        # Hypercorn adopted the descriptor (fd://) and closed it on shutdown.
        self.sock.detach()

    def last(self, path_prefix: str) -> tuple[str, list[tuple[str, str]]]:
        """(http_version, headers) of the last handshake whose path starts with `path_prefix`."""
        with self.lock:
            for path, version, headers in reversed(self.handshakes):
                if path.startswith(path_prefix):
                    return version, headers
        raise AssertionError(f"no WebSocket for {path_prefix} reached Hypercorn: {self.handshakes}")

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http":
            await receive()
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"websocket only\n"})
            return
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        with self.lock:
            self.handshakes.append((scope["path"], scope["http_version"], headers))
        message = await receive()
        assert message["type"] == "websocket.connect"
        subprotocols = scope.get("subprotocols", [])
        accept = {"type": "websocket.accept"}
        if "chat.v1" in subprotocols:
            accept["subprotocol"] = "chat.v1"
        await send(accept)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            if text == "whoami":
                report = {
                    "authorization": [v for n, v in headers if n.lower() == "authorization"],
                    "http_version": scope["http_version"],
                    "path": scope["path"],
                    "subprotocols": subprotocols,
                }
                await send({"type": "websocket.send", "text": json.dumps(report)})
            elif text == "close-me":
                await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
                return
            elif text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": data})
