"""A webhook receiver of the tests' own: a real HTTP server (http.server in a thread on
127.0.0.1, a free port) that checks each POST's X-Signature as a receiver in the field would.

`answers` are the statuses it gives, one per request, the last one repeating; `secret` is
set by the test once the console made it. Every request is kept (`requests`) with whether its
signature was right, computed here, independently of the console's code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=lambda: [200])
    secret: str = ""
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hooks/jobs?src=console") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def expected(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} request(s) came, {count} awaited")
            time.sleep(0.05)
        return list(self.requests)


def start_receiver(answers: list[int] | None = None) -> Receiver:
    receiver = Receiver(answers=list(answers or [200]))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            given = self.headers.get("X-Signature", "")
            ok = bool(receiver.secret) and hmac.compare_digest(given, receiver.expected(body))
            status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
            receiver.requests.append(Received(self.path, dict(self.headers), body, ok))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def stop_receiver(receiver: Receiver) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()
