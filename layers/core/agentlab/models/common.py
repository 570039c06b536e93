from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class StrictInput(BaseModel):
    """Request bodies: unknown fields and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
