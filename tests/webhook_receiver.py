"""A Standard Webhooks receiver on 127.0.0.1, for the tests: it verifies every delivery with the library."""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    """An endpoint on 127.0.0.1 that verifies every delivery with the Standard Webhooks library and answers
    `status` to the ones that verify (400 to the others)."""

    secret: str = ""
    status: int = 204
    # Off for tests that move their own clock: the signature is still checked, the timestamp's age is not.
    check_time: bool = True
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agentlab"

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        if not self.check_time:
            signed_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
            expected = Webhook(self.secret).sign(headers["webhook-id"], signed_at, body.decode())
            if not hmac.compare_digest(expected, headers["webhook-signature"]):
                raise WebhookVerificationError("No matching signature found")
            return dict(json.loads(body))
        return dict(Webhook(self.secret).verify(body, headers))

    def start(self) -> Receiver:
        receiver = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    receiver.verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                receiver.received.append(Received(headers, body, verified))
                self.send_response(receiver.status if verified else 400)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
