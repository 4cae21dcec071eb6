"""A local OpenAI-compatible HTTP server for tests and benchmarks (not a test module).

It speaks enough of the API for the real ``openai`` client: ``POST /v1/chat/completions``
answers a ``chat.completion`` whose content is ``responder(request_body)``, ``GET /v1/models``
lists one model. Latency and faults are injected on purpose:

* ``faults``: a script consumed in order by the first chat requests (None = a normal answer);
* afterwards each request gets a fault with probability ``fault_rate`` (seeded), of a kind
  drawn from ``fault_kinds``.

Fault kinds: "429" (with ``Retry-After: 0``), "500", "503", "timeout" (sleep ``hang_s`` then
answer), "garbage" (HTTP 200 with a body that is not JSON), "garbage_content" (a valid
completion whose content is random junk), "drop" (close the connection without an answer),
"401" (its message echoes the Authorization header, as careless servers do).

Example::

    with FakeOpenAIServer(lambda body: "hello", latency_s=0.2) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import json
import random
import socket
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAIServer", "echo_responder", "FAULT_KINDS"]

FAULT_KINDS = ("429", "500", "503", "timeout", "garbage", "garbage_content", "drop", "401")


def echo_responder(body: dict[str, Any]) -> str:
    """The default answer: "echo: " and the last message's content."""
    messages = body.get("messages") or [{}]
    return f"echo: {messages[-1].get('content', '')}"


def _words(text: str) -> int:
    return len(text.split())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many clients connect at once
    owner: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected; stay quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses connections
    timeout = 60  # idle keep-alive connections close after a minute
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms), which would add to every answer's latency.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            model = self.server.owner.model
            self._json(200, {"object": "list", "data": [_model_entry(model)]})
        else:
            self._json(404, _error(f"no route GET {self.path}", "not_found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, _error(f"no route POST {self.path}", "not_found"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, _error("request body is not JSON", "invalid_request_error"))
            return
        self.server.owner._serve_chat(self, body)


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _model_entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "fake"}


class FakeOpenAIServer:
    """A threaded OpenAI-compatible server on 127.0.0.1 and a free port.

    Parameters
    ----------
    responder
        ``request body -> answer text`` (default :func:`echo_responder`). Called on the
        server's threads; must be thread-safe.
    latency_s
        Seconds each answer is delayed; concurrent requests overlap.
    faults
        Fault script for the first requests, in order (None = answer normally).
    fault_rate, fault_kinds
        After the script, the probability of a fault per request and the kinds drawn from.
    hang_s
        How long a "timeout" fault stalls before answering, in seconds.
    seed
        Seed of the fault draws and the junk text.
    usage
        Whether answers report token counts (``usage``); False imitates servers that omit it.
    model
        The model listed by ``GET /v1/models`` (answers echo the requested model).

    Attributes
    ----------
    base_url
        ``http://127.0.0.1:<port>/v1`` once started.
    requests, request_times
        Every chat request body received, and its arrival time (``time.monotonic()``).
    fault_counts
        Faults injected, by kind.
    in_flight, max_in_flight
        Chat requests being served now, and the most at once.
    billed
        ``(prompt_tokens, completion_tokens)`` of every completion answered (what a paid API
        would bill; counted when the answer is made, whether or not the client reads it).
    """

    def __init__(
        self,
        responder: Callable[[dict], str] | None = None,
        *,
        latency_s: float = 0.0,
        faults: Sequence[str | None] = (),
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = ("429", "500", "timeout", "garbage"),
        hang_s: float = 5.0,
        seed: int = 0,
        usage: bool = True,
        model: str = "fake-model",
    ) -> None:
        unknown = [k for k in [*faults, *fault_kinds] if k is not None and k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1]; got {fault_rate}")
        self.responder = responder or echo_responder
        self.latency_s = latency_s
        self.faults = list(faults)
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.hang_s = hang_s
        self.usage = usage
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.fault_counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.billed: list[tuple[int, int]] = []
        self.base_url = ""
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._n = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeOpenAIServer:
        """Bind a free port and serve on a background thread; returns self."""
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (requests still hanging finish on their own daemon threads)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving
    def _next_fault(self) -> tuple[str | None, int]:
        with self._lock:
            self._n += 1
            if self._n <= len(self.faults):
                fault = self.faults[self._n - 1]
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_kinds)
            else:
                fault = None
            if fault is not None:
                self.fault_counts[fault] += 1
            return fault, self._rng.randrange(2**31)

    def _serve_chat(self, h: _Handler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault, draw = self._next_fault()
            self._answer(h, body, fault, draw, time.monotonic() + self.latency_s)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(
        self, h: _Handler, body: dict[str, Any], fault: str | None, draw: int, due: float
    ) -> None:
        """Answer at ``due`` (arrival + latency): the responder's own work happens inside the
        latency, so every answer takes ``latency_s`` (or the responder's time, if longer)."""
        text = None
        if fault is None:
            try:
                text = self.responder(body)
            except Exception as exc:  # noqa: BLE001 - a broken responder is the test's bug: answer 500 naming it
                time.sleep(max(0.0, due - time.monotonic()))
                h._json(500, _error(f"responder raised {type(exc).__name__}: {exc}", "responder"))
                return
        time.sleep(max(0.0, due - time.monotonic()))
        if fault == "429":
            h._json(429, _error("Rate limit reached", "rate_limit_exceeded"), {"Retry-After": "0"})
            return
        if fault in ("500", "503"):
            h._json(int(fault), _error("The server had an error", "server_error"))
            return
        if fault == "401":
            key = h.headers.get("Authorization", "")
            h._json(401, _error(f"Incorrect API key provided: {key}", "invalid_api_key"))
            return
        if fault == "garbage":
            h._send(200, b"<html>502 Bad Gateway</html> {not json", "application/json")
            return
        if fault == "drop":
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "timeout":
            time.sleep(self.hang_s)
        if fault == "garbage_content":
            rng = random.Random(draw)
            chars = string.ascii_letters + string.punctuation + " "
            text = "".join(rng.choice(chars) for _ in range(rng.randint(20, 200)))
        elif text is None:  # after a timeout fault: answer late, as a slow server would
            text = self.responder(body)
        h._json(200, self._completion(body, text))

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.usage:
            prompt = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
            completion = _words(text)
            out["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            with self._lock:
                self.billed.append((prompt, completion))
        return out
