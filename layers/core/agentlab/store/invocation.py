"""What one step invocation has already read or written, kept for that invocation only, as first guesses.

A step reads its run, then appends one or two steps and transcript messages; each append needs the run's revision
and the transcript's last sequence number, which the invocation already knows from its own reads and writes. Those
are kept here while `invocation_scope()` is open (lambda_entry opens one per step invocation) and used as the first
guess of the next conditional write: a write whose guess went stale (another writer came between) fails its
condition and is retried from a fresh read, exactly as before. Nothing is kept outside a scope, nor across
invocations or threads (a context variable), so the API and concurrent executions in one process never share one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_known: ContextVar[dict[tuple[str, ...], Any] | None] = ContextVar("agentlab_invocation_known", default=None)


@contextmanager
def invocation_scope() -> Iterator[None]:
    token = _known.set({})
    try:
        yield
    finally:
        _known.reset(token)


def remembering() -> bool:
    """Whether a scope is open: a caller whose value costs something to make (a copy) asks first."""
    return _known.get() is not None


def remember(key: tuple[str, ...], value: Any) -> None:
    known = _known.get()
    if known is not None:
        known[key] = value


def recall(key: tuple[str, ...]) -> Any | None:
    """The value kept under `key`, given once: a guess is used by one write, which remembers what it wrote."""
    known = _known.get()
    return known.pop(key, None) if known is not None else None
