"""A stub OpenAI-compatible upstream: a real HTTP server on loopback, scripted per request.

The last user message of a request picks what the stub does by its part before any ``:``
(``slow:7`` is ``slow``); anything else is a normal answer whose content is ``echo: <message>``:

- ``hang``: accept and never answer (until the stub stops);
- ``html``: 200 with an HTML page; ``nochoices``: 200 with ``"choices": []``;
- ``stream``: 200 ``text/event-stream``; ``huge``: 200 with a body over the size limit;
- ``fail-400``: 400 with an OpenAI error envelope; ``fail-500``: always 500;
- ``flaky``: 503 (``Retry-After: 0``) the first time, then an answer; ``busy``: 429 the first
  time, then an answer; ``drop``: close the connection without a reply;
- ``slow``: answer after ``slow_seconds``; ``chunked``: an answer in chunked transfer encoding;
  ``close``: an answer with ``connection: close``.

With ``json_object_only`` it refuses a ``json_schema`` response format the way
llama-cpp-python's server does (a 500 naming ``response_format``) and answers a
``{"type": "json_object", "schema": ...}`` one with ``{"sentiment": "positive"}``.

Every request body is recorded (``stub.bodies``) with its headers (``stub.headers``).
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections import Counter
from typing import Any

import orjson

HUGE_BYTES = 17 * 1024 * 1024
#: What llama-cpp-python's server answers (a 500) to a json_schema response format.
REFUSED_SCHEMA = orjson.dumps(
    {"error": {"message": "response_format.type: Input should be 'text' or 'json_object'"}}
)


class StubUpstream:
    """``with StubUpstream() as stub: stub.url`` is ``http://127.0.0.1:PORT/v1``."""

    def __init__(
        self,
        port: int = 0,
        *,
        slow_seconds: float = 0.3,
        json_object_only: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.slow_seconds = slow_seconds
        self.json_object_only = json_object_only
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.seen: Counter[str] = Counter()
        self.in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        if tls is not None:  # (certificate file, key file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"http{'s' if tls else ''}://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StubUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def texts(self) -> list[str]:
        """The last user message of every request received, in order."""
        with self._lock:
            return [_last_user(body) for body in self.bodies]

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            text = _last_user(body)
            self.seen[text] += 1
            return self.seen[text]


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Connections that clients drop (timeouts, shutdown) are expected here."""


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def completion(body: dict[str, Any], content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 11,
                "completion_tokens": 7,
                "total_tokens": 18,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        }
    )


def _handler(stub: StubUpstream) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._send(200, b'{"object": "list", "data": []}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            body = orjson.loads(raw)
            nth = stub.record(body, {k.lower(): v for k, v in self.headers.items()})
            with stub._lock:
                stub.in_flight += 1
            try:
                text = _last_user(body)
                self._answer(body, text.split(":", 1)[0], text, nth)
            finally:
                with stub._lock:
                    stub.in_flight -= 1

        def _answer(self, body: dict[str, Any], mode: str, text: str, nth: int) -> None:
            fmt = body.get("response_format") or {}
            if stub.json_object_only and fmt.get("type") == "json_schema":
                self._send(500, REFUSED_SCHEMA)
            elif stub.json_object_only and "schema" in fmt:
                self._send(200, completion(body, '{"sentiment": "positive"}'))
            elif mode == "hang":
                stub.stopping.wait(30)
                self.close_connection = True
            elif mode == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif mode == "html":
                self._send(
                    200, b"<html><body><h1>Welcome to nginx!</h1></body></html>", "text/html"
                )
            elif mode == "nochoices":
                self._send(200, b'{"id": "x", "object": "chat.completion", "choices": []}')
            elif mode == "stream":
                self._send(200, b'data: {"choices": []}\n\ndata: [DONE]\n\n', "text/event-stream")
            elif mode == "huge":
                self._send(200, completion(body, "x" * HUGE_BYTES))
            elif mode == "fail-400":
                self._send(400, b'{"error": {"message": "temperature is out of range"}}')
            elif mode == "fail-500":
                self._send(500, b'{"error": {"message": "the model crashed"}}')
            elif mode == "chunked":
                payload = completion(body, f"echo: {text}")
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for start in range(0, len(payload), 40):
                    part = payload[start : start + 40]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            elif mode == "close":
                headers = {"connection": "close"}
                self._send(200, completion(body, f"echo: {text}"), headers=headers)
                self.close_connection = True
            elif mode in ("flaky", "busy") and nth == 1:
                status = 503 if mode == "flaky" else 429
                self._send(status, b'{"error": "try later"}', headers={"retry-after": "0"})
            else:
                if mode == "slow":
                    time.sleep(stub.slow_seconds)
                self._send(200, completion(body, f"echo: {text}"))

        def _send(
            self,
            status: int,
            payload: bytes,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
