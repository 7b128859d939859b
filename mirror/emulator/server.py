"""The HTTP transport: a stdlib threading server on a loopback socket.

The standard library is enough, so the emulator needs no dependency. Every
connection gets a daemon thread and keep-alive (HTTP/1.1 with Content-Length),
and each answer goes out in one write with Nagle's algorithm off, so a client
with a pool of keep-alive connections gets thousands of answers a second.
The transport also acts out a response's fault: it can drop the connection,
cut the body short, answer late or trickle the body out.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import structlog

from mirror.emulator.app import ApiHandler, Request, Response
from mirror.emulator.behaviour import Fault

log = structlog.get_logger(__name__)

_TRICKLE_PIECES = 64


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections on stop."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: ApiHandler):
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Note a connection that failed mid-request, without a traceback.

        Clients that time out or close early are part of what the emulator
        is for, so their broken connections are routine here.
        """
        log.debug("emulator.connection_failed", client=str(client_address))

    def close_connections(self) -> None:
        """Close every open keep-alive connection, so that none outlives stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PocketEmulator/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent; the emulator keeps its own request log."""

    def _serve(self) -> None:
        request = self._read_request()
        api = cast(EmulatorServer, self.server).api
        latency_ms = api.emulator.behaviour.latency_ms
        if latency_ms > 0:
            time.sleep(latency_ms / 1000)
        response = api.handle(request)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(self.command, split.path, self.path, query, headers, body)

    def _send(self, response: Response) -> None:
        fault = response.fault or Fault()
        if fault.delay_seconds > 0:
            time.sleep(fault.delay_seconds)
        if fault.drop:
            self.close_connection = True
            _shut(self.connection)
            return

        body = response.body
        announced = len(body)
        if fault.truncate:
            announced = max(len(body), 1)
            body = body[: len(body) // 2]
            self.close_connection = True
        head = self._head(response, announced)
        if fault.trickle_seconds > 0:
            self._trickle(head, body, fault.trickle_seconds)
        else:
            self.wfile.write(head + body)
        if fault.truncate:
            _shut(self.connection)

    def _head(self, response: Response, length: int) -> bytes:
        reason = _reason(response.status)
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        if response.status != 304:
            if response.content_type:
                lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {length}")
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _trickle(self, head: bytes, body: bytes, seconds: float) -> None:
        """Send the body in small pieces, spread over ``seconds``."""
        self.wfile.write(head)
        pieces = max(1, min(len(body), _TRICKLE_PIECES))
        size = -(-len(body) // pieces) if body else 1
        pause = seconds / pieces
        for offset in range(0, max(len(body), 1), size):
            time.sleep(pause)
            self.wfile.write(body[offset : offset + size])


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _shut(connection: socket.socket) -> None:
    """Shut a socket both ways; the handler thread then sees it closed."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """Runs an :class:`EmulatorServer` on a background thread."""

    def __init__(self, api: ApiHandler, host: str, port: int):
        self.server = EmulatorServer((host, port), api)
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="pocket-emulator",
            daemon=True,
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Start accepting connections."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close open connections and release the port."""
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join()
