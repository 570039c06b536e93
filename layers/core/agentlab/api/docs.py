"""What a feature's routes add to the API's document: the parts only a route knows (see api/openapi.py).

A feature's route module (api/schedule_routes.py, ...) exposes one `DOCS = FeatureDocs(...)`; api/openapi.py merges
every feature's tables into its own, so the document stays complete without one module owning every route's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Operation:
    """What only a route knows. `errors` maps a status to its codes and when each is answered; `also` adds success
    statuses that answer with the route's documented body; `parameters` describes the route's own parameters (the
    shared ones are described in api/openapi.py); `response_example` is for a body without a named schema."""

    summary: str
    description: str
    errors: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    also: Mapping[int, str] = field(default_factory=dict)
    response_example: Any = None


@dataclass(frozen=True)
class FeatureDocs:
    """A feature's operations, links to other collections, examples by schema name, and tags with their text."""

    operations: Mapping[tuple[str, str], Operation] = field(default_factory=dict)
    follow_ups: Mapping[tuple[str, str], list[tuple[tuple[str, str], dict[str, Any]]]] = field(default_factory=dict)
    examples: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


# The codes every store's conditional writes and the table's checks answer, shared by features.
CONCURRENT = {"concurrent_update": "another request changed or removed it at the same moment; reload and retry"}
# store/table.py refuses a number DynamoDB cannot keep exactly (a cost of 1e-300, an env value of 1e300).
UNSTORABLE = {
    "number_out_of_range": "a number is not 0 and not between 1e-130 and 1e126 in magnitude",
    "empty_key": "an object in the body has an empty key, which the table cannot store",
}
