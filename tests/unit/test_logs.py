"""Secrets never reach the logs: the filter on agentlab's loggers redacts keys, passwords and tokens."""

from __future__ import annotations

import io
import json
import logging

from agentlab.logs import REDACTED, get_logger, redact_text

API_KEY = "al_" + "Zq9" * 14
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
PASSWORD = "Tr0ub4dor&3-horse"


def capture(service: str) -> tuple[object, io.StringIO]:
    logger = get_logger(service)
    stream = io.StringIO()
    inner = logger._logger  # type: ignore[attr-defined]
    handler = inner.handlers[0]
    handler.setStream(stream)
    return logger, stream


def test_a_key_a_password_and_a_token_in_one_log_call_are_redacted() -> None:
    logger, stream = capture("redaction-test")
    logger.warning(  # type: ignore[attr-defined]
        f"login for bob with password={PASSWORD} using Authorization: Bearer {JWT} and key {API_KEY}",
        extra={"password": PASSWORD, "headers": {"authorization": f"Bearer {API_KEY}"}, "note": f"token {JWT}"},
    )
    output = stream.getvalue()
    record = json.loads(output)
    for secret in (API_KEY, JWT, PASSWORD):
        assert secret not in output
    assert record["password"] == REDACTED and record["headers"]["authorization"] == REDACTED
    assert REDACTED in record["message"] and "login for bob" in record["message"]


def test_printf_arguments_and_exceptions_are_redacted_too() -> None:
    logger, stream = capture("redaction-args")
    logger.info("sent %s to %s", API_KEY, "api")  # type: ignore[attr-defined]
    try:
        raise ValueError(f"bad secret={PASSWORD}")
    except ValueError:
        logger.exception("failed")  # type: ignore[attr-defined]
    output = stream.getvalue()
    assert API_KEY not in output and "Tr0ub4dor" not in output and "horse" not in output and "ValueError" in output


def test_plain_text_keeps_what_is_not_secret() -> None:
    text = "run 01ARZ3NDEKTSV4RRFFQ69G5FAV failed after 3 steps (token budget 1000)"
    assert redact_text(text) == text
    assert redact_text('{"client_secret": "abc123", "name": "x"}') == '{"client_secret": "[REDACTED]", "name": "x"}'
    assert redact_text("aws AKIAABCDEFGHIJKLMNOP") == f"aws {REDACTED}"


def test_the_filter_is_installed_once_per_logger() -> None:
    first = get_logger("redaction-once")
    get_logger("redaction-once")
    inner: logging.Logger = first._logger  # type: ignore[attr-defined]
    assert len([f for f in inner.filters if type(f).__name__ == "RedactSecrets"]) == 1


def test_module_loggers_are_redacted_at_the_root_handlers() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        get_logger("redaction-root")  # as every function does at import
        logging.getLogger("agentlab.llm.somewhere").warning("calling with api_key=%s", API_KEY)
    finally:
        root.removeHandler(handler)
    assert API_KEY not in stream.getvalue() and "calling with api_key=" in stream.getvalue()
