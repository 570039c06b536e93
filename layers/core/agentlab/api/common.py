"""What every route module shares: path, query and header types, the deleted-answer shape, the caller, page sizes."""

from __future__ import annotations

import re
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from agentlab.api.deps import ApiDeps
from agentlab.models import Caller
from agentlab.models.common import without_null

ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
# A query string holds decimal digits for an integer: no sign, spaces, underscores or fractions (which pydantic's lax
# int would take), so the server reads what the document's `integer` says.
_DECIMAL = re.compile(r"[0-9]+", re.ASCII)


def optional_query(*, schema_format: str | None = None, **constraints: Any) -> Any:
    """A query parameter a request may leave out. A query string cannot say null, so the document offers none.
    `schema_format` is the JSON Schema format the server checks beyond the pattern (a calendar `date`)."""
    if schema_format is None:
        return Query(json_schema_extra=cast(Any, without_null), **constraints)

    def with_format(schema: dict[str, Any]) -> None:
        without_null(schema)
        schema["format"] = schema_format

    return Query(json_schema_extra=cast(Any, with_format), **constraints)


def optional_header(alias: str, **constraints: Any) -> Any:
    """A header a request may leave out; as for queries, the document offers no null."""
    return Header(alias=alias, json_schema_extra=cast(Any, without_null), **constraints)


def _decimal_text(value: Any) -> Any:
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a whole number in decimal digits")
    return value


# Last in an integer's annotations (after its bounds, which the document then states as minimum and maximum).
DECIMAL_DIGITS = BeforeValidator(_decimal_text)

Id = Annotated[str, Path(min_length=26, max_length=26, pattern=ULID_PATTERN)]
# An id given as a filter: the same form as a path id.
QueryId = Annotated[str, StringConstraints(min_length=26, max_length=26, pattern=ULID_PATTERN)]
# Cursors are URL-safe base64 without padding (store/table.py writes and reads them); beyond the form, only a cursor
# that the same listing returned is valid (400 invalid_cursor).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
Cursor = Annotated[
    str | None,
    optional_query(
        min_length=1,
        max_length=2_048,
        pattern=CURSOR_PATTERN,
        description="the `next_cursor` of the previous page of the same listing",
    ),
]
MAX_PAGE_LIMIT = 200
Limit = Annotated[Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT), DECIMAL_DIGITS] | None, optional_query()]
# Steps are numbered in the sort key with eight digits (store/runs.py), so `after` ends one below the last number.
LAST_STEP_SEQ = 99_999_999
StepSeq = Annotated[
    int, Field(ge=0, le=LAST_STEP_SEQ - 1, description="the `seq` of the last step already read"), DECIMAL_DIGITS
]
# Printable ASCII without spaces (1..255 characters), as HTTP carries a header value unchanged.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]+$"
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=IDEMPOTENCY_KEY_PATTERN)]


class Deleted(BaseModel):
    id: str
    deleted: bool = True


def json_response(body: BaseModel, status: int = 200) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def current_caller(app: APIGatewayHttpResolver) -> Caller:
    """The caller, already authorized for this route by the role x route matrix (api/permissions.py)."""
    caller: Caller = app.context["caller"]
    return caller


def page_size(deps: ApiDeps, limit: int | None) -> int:
    return min(limit or deps.settings.default_page_size, deps.settings.max_page_size)
