"""What every route module shares: path and query types, the deleted-answer shape, the caller, page sizes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from agentlab.api.deps import ApiDeps
from agentlab.models import Caller

Id = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
Cursor = Annotated[str | None, Query(max_length=2_048)]
Limit = Annotated[int | None, Query(ge=1, le=200)]


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
