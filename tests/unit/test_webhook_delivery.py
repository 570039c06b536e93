"""Webhook signing and delivery: a real receiver on 127.0.0.1 verifies what is sent; refused URLs make no request."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from agentlab.webhooks.delivery import (
    RESPONSE_BODY_LIMIT_BYTES,
    RETRY_SCHEDULE_S,
    deliver,
    next_retry_delay_s,
    should_disable,
)
from agentlab.webhooks.signing import EVENT_TYPES, WebhookEvent, new_secret, sign

SECRET = new_secret()


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A customer's endpoint: verifies each delivery with the reference library, as a customer would."""

    base_url: str
    verified: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    release_slow: threading.Event = field(default_factory=threading.Event)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            receiver.hits[self.path] += 1
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/hook":
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    Webhook(SECRET).verify(body, headers)
                except WebhookVerificationError as exc:
                    receiver.rejected.append(str(exc))
                    self._answer(401, b"bad signature")
                    return
                receiver.verified.append(Received(body, headers))
                self._answer(204)
            elif self.path == "/redirect":
                self._answer(307, headers={"location": f"{receiver.base_url}/target"})
            elif self.path == "/slow":
                receiver.release_slow.wait(timeout=10)
                # the client gave up long ago, so writing the answer may fail
                with contextlib.suppress(OSError):
                    self._answer(200)
            elif self.path == "/chatty":
                self._answer(500, b"x" * 100_000)
            else:
                self._answer(404)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    state = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler_for(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release_slow.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # No proxies from the environment, and redirects on by default: deliver() must turn them off itself.
    with httpx.Client(trust_env=False, follow_redirects=True) as c:
        yield c


def _event(**data: Any) -> WebhookEvent:
    return WebhookEvent(type="run.succeeded", org_id="org_1", data=data or {"run_id": "run_1", "summary": "done"})


def _resolver(table: dict[str, list[str]]) -> Callable[..., list[Any]]:
    def resolve(host: str, port: int | None, proto: int = 0) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (address, port or 443)) for address in table[host]]

    return resolve


class RecordingTransport(httpx.MockTransport):
    def __init__(self, code: int = 200) -> None:
        self.requests: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(code)

        super().__init__(handle)


# --- signing -------------------------------------------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_at_least_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret


def test_signed_headers_verify_with_the_reference_library() -> None:
    body = _event().to_body()
    headers = sign(SECRET, "evt_1", datetime.now(UTC), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(SECRET).verify(body, headers)["org_id"] == "org_1"


def test_a_timestamp_in_another_timezone_signs_the_same_instant() -> None:
    # Given the same instant spelled in UTC and in UTC+2
    instant = datetime.now(UTC).replace(microsecond=0)
    body = b'{"a":1}'
    # When both are signed
    in_utc = sign(SECRET, "evt_1", instant, body)
    elsewhere = sign(SECRET, "evt_1", instant.astimezone(timezone(timedelta(hours=2))), body)
    # Then the headers are identical, and the receiver accepts them
    assert in_utc == elsewhere
    Webhook(SECRET).verify(body, elsewhere)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(SECRET, "evt_1", datetime(2030, 1, 1), b"{}")


def test_the_same_event_serialised_twice_carries_the_same_id() -> None:
    event = _event()
    first, second = json.loads(event.to_body()), json.loads(event.to_body())
    assert first["id"] == second["id"] == event.id
    assert event.id.startswith("evt_")
    # an event read back from the queue keeps its id, so a redelivery is recognisable as the same event
    assert WebhookEvent.model_validate_json(event.to_body()).id == event.id


def test_the_body_is_compact_json_with_the_envelope_fields() -> None:
    body = _event().to_body()
    assert b" " not in body.replace(b'"summary":"done"', b"")
    assert set(json.loads(body)) == {"id", "type", "created_at", "org_id", "data"}


def test_every_event_type_is_accepted_and_others_are_not() -> None:
    assert len(EVENT_TYPES) == 7
    for event_type in EVENT_TYPES:
        assert WebhookEvent(type=event_type, org_id="org_1").type == event_type
    with pytest.raises(ValueError, match="type"):
        WebhookEvent.model_validate({"type": "run.exploded", "org_id": "org_1"})


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"password": "hunter2"}, "data.password"),
        ({"Client_Secret": "s"}, "data.Client_Secret"),
        ({"run": {"accessToken": "t"}}, "data.run.accessToken"),
        ({"items": [{"ok": 1}, {"X-Api-Key": "k"}]}, "data.items[1].X-Api-Key"),
        ({"AUTHORIZATION": "Bearer t"}, "data.AUTHORIZATION"),
        ({"api_key": "k"}, "data.api_key"),
        ({"APIKey": "k"}, "data.APIKey"),
        ({"key": "k"}, "data.key"),
    ],
)
def test_the_secret_guard_refuses_secret_looking_keys_and_never_echoes_the_value(
    data: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValueError, match="never carries secrets") as refused:
        WebhookEvent(type="run.failed", org_id="org_1", data=data)
    assert path in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_the_secret_guard_lets_ids_summaries_and_token_counts_through() -> None:
    data = {"run_id": "run_1", "summary": "ok", "usage": {"input_tokens": 12, "output_tokens": 3}, "monkey": 1}
    assert WebhookEvent(type="usage.threshold", org_id="org_1", data=data).data == data


def test_the_secret_guard_also_runs_when_a_built_event_is_changed_in_place() -> None:
    event = _event()
    event.data["token"] = "t"
    with pytest.raises(ValueError, match=r"data\.token"):
        event.to_body()


# --- delivery to a real receiver -------------------------------------------------------------------------------------


def test_a_delivery_is_verified_by_the_receiver(receiver: Receiver, client: httpx.Client) -> None:
    # Given an event
    event = _event()
    # When it is delivered to a loopback receiver
    attempt = deliver(f"{receiver.base_url}/hook", SECRET, event, client=client, allow_loopback=True)
    # Then the receiver verified the signature and got the event's bytes
    assert attempt.status == "delivered"
    assert attempt.response_code == 204
    assert attempt.error is None
    assert [r.body for r in receiver.verified] == [event.to_body()]
    assert receiver.verified[0].headers["webhook-id"] == event.id
    assert receiver.verified[0].headers["content-type"] == "application/json"


def test_a_redelivery_keeps_the_id_and_is_signed_afresh(receiver: Receiver, client: httpx.Client) -> None:
    event = _event()
    earlier = datetime.now(UTC) - timedelta(minutes=2)
    deliver(f"{receiver.base_url}/hook", SECRET, event, client=client, allow_loopback=True, clock=lambda: earlier)
    deliver(f"{receiver.base_url}/hook", SECRET, event, client=client, allow_loopback=True)
    first, second = receiver.verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.id
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.body == second.body


def test_a_replayed_delivery_with_an_old_timestamp_is_rejected(receiver: Receiver, client: httpx.Client) -> None:
    # Given a delivery signed ten minutes ago (beyond the library's five-minute tolerance)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # When it reaches the receiver
    attempt = deliver(
        f"{receiver.base_url}/hook", SECRET, _event(), client=client, allow_loopback=True, clock=lambda: long_ago
    )
    # Then the library refuses it and the attempt records the receiver's answer
    assert receiver.rejected == ["Message timestamp too old"]
    assert receiver.verified == []
    assert attempt.status == "failed"
    assert attempt.response_code == 401
    assert attempt.error == "HTTP 401"
    assert attempt.response_body == "bad signature"


def test_a_tampered_body_is_rejected(receiver: Receiver, client: httpx.Client) -> None:
    deliver(f"{receiver.base_url}/hook", SECRET, _event(), client=client, allow_loopback=True)
    (received,) = receiver.verified
    tampered = received.body.replace(b"org_1", b"org_2")
    assert tampered != received.body
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(tampered, received.headers)


def test_another_secret_does_not_verify(receiver: Receiver, client: httpx.Client) -> None:
    deliver(f"{receiver.base_url}/hook", SECRET, _event(), client=client, allow_loopback=True)
    (received,) = receiver.verified
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(received.body, received.headers)


def test_a_redirect_is_not_followed(receiver: Receiver, client: httpx.Client) -> None:
    attempt = deliver(f"{receiver.base_url}/redirect", SECRET, _event(), client=client, allow_loopback=True)
    assert attempt.status == "failed"
    assert attempt.response_code == 307
    assert attempt.error is not None and "redirect" in attempt.error
    assert receiver.hits["/redirect"] == 1
    assert receiver.hits["/target"] == 0


def test_a_timeout_becomes_a_failed_attempt(receiver: Receiver, client: httpx.Client) -> None:
    attempt = deliver(f"{receiver.base_url}/slow", SECRET, _event(), client=client, allow_loopback=True, timeout_s=0.2)
    assert attempt.status == "failed"
    assert attempt.response_code is None
    assert attempt.error == "ReadTimeout"


def test_a_connection_refused_becomes_a_failed_attempt(client: httpx.Client) -> None:
    # Given a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When a delivery is tried there, then no exception escapes
    attempt = deliver(f"http://127.0.0.1:{port}/hook", SECRET, _event(), client=client, allow_loopback=True)
    assert attempt.status == "failed"
    assert attempt.response_code is None
    assert attempt.error == "ConnectError"


def test_only_the_first_4_kb_of_a_response_is_kept(receiver: Receiver, client: httpx.Client) -> None:
    attempt = deliver(f"{receiver.base_url}/chatty", SECRET, _event(), client=client, allow_loopback=True)
    assert attempt.status == "failed"
    assert attempt.error == "HTTP 500"
    assert attempt.response_body == "x" * RESPONSE_BODY_LIMIT_BYTES


# --- refused URLs: no request is made --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_loopback", "reason"),
    [
        ("https://10.0.0.1/hook", False, "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", False, "not a public address"),
        ("https://hooks.customer.example/hook", False, "resolves to 127.0.0.1"),
        # allow_loopback is for loopback URLs, not for a public name that resolves to one
        ("https://hooks.customer.example/hook", True, "resolves to 127.0.0.1"),
        ("https://metadata.customer.example/hook", False, "resolves to 169.254.169.254"),
        ("http://public.customer.example/hook", False, "only https"),
        ("http://public.customer.example/hook", True, "only https"),
        ("http://127.0.0.1:8080/hook", False, "only https"),
        ("https://127.0.0.1/hook", False, "not a public address"),
        ("http://localhost:8080/hook", False, "only https"),
    ],
)
def test_a_url_that_is_not_allowed_is_refused_without_a_request(url: str, allow_loopback: bool, reason: str) -> None:
    # Given names that resolve to loopback, metadata and public addresses
    resolve = _resolver(
        {
            "hooks.customer.example": ["127.0.0.1"],
            "metadata.customer.example": ["169.254.169.254"],
            "public.customer.example": ["93.184.215.14"],
        }
    )
    transport = RecordingTransport()
    # When a delivery is tried
    with httpx.Client(transport=transport) as fake:
        attempt = deliver(url, SECRET, _event(), client=fake, allow_loopback=allow_loopback, resolve=resolve)
    # Then it is refused, with the reason, and nothing was sent
    assert attempt.status == "refused"
    assert attempt.response_code is None
    assert attempt.error is not None and reason in attempt.error
    assert transport.requests == []


def test_a_public_endpoint_is_called_at_the_checked_address_under_its_own_name() -> None:
    # Given a public name (a second DNS lookup could answer differently, so the checked address is used)
    resolve = _resolver({"hooks.customer.example": ["93.184.215.14"]})
    transport = RecordingTransport(code=200)
    # When a delivery is made
    with httpx.Client(transport=transport) as fake:
        attempt = deliver("https://hooks.customer.example/in?x=1", SECRET, _event(), client=fake, resolve=resolve)
    # Then the request went to the address, with the name in the Host header and for TLS
    assert attempt.status == "delivered"
    (request,) = transport.requests
    assert str(request.url) == "https://93.184.215.14/in?x=1"
    assert request.headers["host"] == "hooks.customer.example"
    assert request.extensions["sni_hostname"] == "hooks.customer.example"
    Webhook(SECRET).verify(request.content, dict(request.headers))


def test_an_international_name_is_sent_idna_encoded_in_the_host_header_and_for_tls() -> None:
    resolve = _resolver({"bücher.example": ["93.184.215.14"], "xn--bcher-kva.example": ["93.184.215.14"]})
    transport = RecordingTransport(code=204)
    with httpx.Client(transport=transport) as fake:
        attempt = deliver("https://bücher.example/in", SECRET, _event(), client=fake, resolve=resolve)
    assert attempt.status == "delivered"
    (request,) = transport.requests
    assert request.headers["host"] == "xn--bcher-kva.example"
    assert request.extensions["sni_hostname"] == "xn--bcher-kva.example"


def test_localhost_is_allowed_only_when_it_resolves_to_loopback() -> None:
    transport = RecordingTransport()
    with httpx.Client(transport=transport) as fake:
        loopback = deliver(
            "http://localhost:8080/hook",
            SECRET,
            _event(),
            client=fake,
            allow_loopback=True,
            resolve=_resolver({"localhost": ["127.0.0.1"]}),
        )
        hijacked = deliver(
            "http://localhost:8080/hook",
            SECRET,
            _event(),
            client=fake,
            allow_loopback=True,
            resolve=_resolver({"localhost": ["10.0.0.5"]}),
        )
    assert loopback.status == "delivered"
    assert hijacked.status == "refused"
    assert [str(r.url) for r in transport.requests] == ["http://127.0.0.1:8080/hook"]
    assert transport.requests[0].headers["host"] == "localhost:8080"


# --- retry policy ----------------------------------------------------------------------------------------------------


def test_the_backoff_schedule_covers_about_a_day_and_ends_in_giving_up() -> None:
    delays = []
    attempt = 1
    while (delay := next_retry_delay_s(attempt)) is not None:
        delays.append(delay)
        attempt += 1
    assert tuple(delays) == RETRY_SCHEDULE_S
    assert delays == sorted(delays)
    assert timedelta(hours=20) <= timedelta(seconds=sum(delays)) <= timedelta(hours=30)
    assert next_retry_delay_s(len(RETRY_SCHEDULE_S) + 1) is None
    assert next_retry_delay_s(100) is None


def test_attempts_are_counted_from_one() -> None:
    assert next_retry_delay_s(1) == 5
    with pytest.raises(ValueError):
        next_retry_delay_s(0)


def test_an_endpoint_is_disabled_at_the_threshold() -> None:
    assert not should_disable(4, threshold=5)
    assert should_disable(5, threshold=5)
    assert should_disable(6, threshold=5)
    with pytest.raises(ValueError):
        should_disable(1, threshold=0)
