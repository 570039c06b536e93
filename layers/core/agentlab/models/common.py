from __future__ import annotations

import re
import types
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic.fields import FieldInfo

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def without_null(schema: dict[str, Any]) -> None:
    """The schema of a value that may be left out but is never null (an `omittable` field, an optional query
    parameter or header): its type without the null branch, and no default of null."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    schema.pop("default", None)
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def omittable(*, schema_extra: dict[str, Any] | None = None, **constraints: Any) -> Any:
    """A field a request may leave out (the current value stays) but never set to null.

    The model's type is `X | None` so that "left out" can be told apart; the document offers no null, and
    `StrictInput` refuses one, so the two say the same. `schema_extra` adds what the field's validators check beyond
    its type (an env's names, unique items), as a required field says it with `json_schema_extra`."""
    if not schema_extra:
        return Field(default=None, json_schema_extra=without_null, **constraints)
    extra = dict(schema_extra)

    def with_extra(schema: dict[str, Any]) -> None:
        without_null(schema)
        schema.update(extra)

    with_extra.omittable = True  # type: ignore[attr-defined]
    return Field(default=None, json_schema_extra=with_extra, **constraints)


def _omittable(schema_extra: Any) -> bool:
    """Whether a field was declared with `omittable` (with or without further schema)."""
    return schema_extra is without_null or bool(getattr(schema_extra, "omittable", False))


class StrictInput(BaseModel):
    """Every request body, and every model nested in one: what the document refuses, the server refuses.

    - unknown fields are errors;
    - no coercion (strict mode): `true`/`false` are not numbers, `"5"` is not a number, `5` is not a string; a number
      field takes integers too, as JSON Schema's `number` does; NaN and Infinity (which JSON has not) are refused;
    - a JSON number without a fraction is an integer (`3.0` is `3`, as JSON Schema's `integer` says), which strict mode
      alone would refuse; times are `Rfc3339Time` (below), text strict mode alone would not parse;
    - an `omittable` field may be left out but not set to null.

    tests/integration/test_api_contract.py probes every request model of the OpenAPI document against the server, so
    a field that does not follow these rules shows there.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    _integer_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._integer_fields = frozenset(name for name, field in cls.model_fields.items() if _takes_integers(field))

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers_are_integers(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls._integer_fields:
            return data
        return {
            name: int(value)
            if name in cls._integer_fields and isinstance(value, float) and value.is_integer()
            else value
            for name, value in data.items()
        }

    @model_validator(mode="after")
    def _omittable_fields_are_not_null(self) -> StrictInput:
        fields = type(self).model_fields
        nulls = sorted(
            name
            for name in self.model_fields_set
            if _omittable(fields[name].json_schema_extra) and getattr(self, name) is None
        )
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep its current value")
        return self


def _takes_integers(field: FieldInfo) -> bool:
    """An `int` or `int | None` field (not one that also takes floats)."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        members = set(get_args(annotation)) - {type(None)}
        return members == {int}
    return annotation is int


# RFC 3339 date-time with an offset, as the document's `format: date-time` means it (and as JSON Schema validators
# check it): no bare dates, no Unix times, no local times, a `T` between date and time.
RFC3339_TIME = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)", re.ASCII
)


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not RFC3339_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2030-01-01T00:00:00Z")
    return value


# Strict mode parses no text into a datetime; this type does, from RFC 3339 text only.
Rfc3339Time = Annotated[AwareDatetime, Strict(False), BeforeValidator(_rfc3339_text)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


# Amounts in USD are kept to the micro-dollar: finer amounts mean nothing, and a number such as 5e-324 (which JSON
# allows) could not be stored by DynamoDB (magnitudes below 1e-130).
USD_DIGITS = 6


def _micro_dollars(amount: float) -> float:
    return round(amount, USD_DIGITS)


# Last in a USD amount's annotations, after its bounds: `Annotated[float, Field(ge=0), MICRO_DOLLARS]`.
MICRO_DOLLARS = AfterValidator(_micro_dollars)
