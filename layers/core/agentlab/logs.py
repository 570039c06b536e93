"""Logging that never carries secrets: a filter on every agentlab logger redacts keys, tokens and passwords."""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_NAMES = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|credential|cookie|private[_-]?key|session)", re.I
)
_PATTERNS = [
    re.compile(r"al_[A-Za-z0-9_\-]{8,}"),  # agentlab API keys
    re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"),  # JWTs
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/=]{8,}"),
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style keys
    # name=value or "name": "value" pairs whose name says secret
    re.compile(
        r"""(?i)(["']?(?:pass(?:word|wd)?|secret|token|api[_-]?key|authorization|client[_-]?secret)["']?\s*[:=]\s*)"""
        r"""("[^"]*"|'[^']*'|[^\s,;}]+)"""
    ),
]
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    for pattern in _PATTERNS[:-1]:
        text = pattern.sub(REDACTED, text)
    return _PATTERNS[-1].sub(lambda m: m.group(1) + _keep_quotes(m.group(2)), text)


def _keep_quotes(value: str) -> str:
    return f"{value[0]}{REDACTED}{value[0]}" if value[:1] in ("'", '"') else REDACTED


def redact(value: Any, name: str = "") -> Any:
    if name and _SECRET_NAMES.search(name) and isinstance(value, str | bytes | int):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


class RedactSecrets(logging.Filter):
    """Rewrites the message, its arguments and any `extra` fields of a record before a handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            # The message is formatted first, so a secret in an argument is redacted in context, and a pattern
            # cannot eat a `%s` placeholder.
            try:
                text = record.getMessage()
            except (TypeError, ValueError):
                text = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact_text(text), ()
        elif isinstance(record.msg, dict):
            record.msg = redact(record.msg)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, redact(value, key))
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters render exc_info themselves (powertools adds a structured stack trace with the exception's
            # text), so the exception is replaced by its redacted rendering.
            error = record.exc_info[1]
            record.exception = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exception_name = type(error).__name__
            record.exc_info, record.exc_text = None, None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


_FILTER = RedactSecrets()


def get_logger(service: str) -> Any:
    """A powertools Logger whose records pass through the redaction filter."""
    from aws_lambda_powertools import Logger

    logger = Logger(service=service)
    install_filter(logger)
    return logger


def install_filter(logger: Any) -> None:
    """On the logger and its handlers, and on the root logger's handlers: records of module loggers
    (`logging.getLogger(__name__)`) propagate to the root's handlers, which a filter on a logger would not see."""
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    inner = getattr(logger, "_logger", logger)
    if _FILTER not in inner.filters:
        inner.addFilter(_FILTER)
    for handler in getattr(inner, "handlers", []):
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
