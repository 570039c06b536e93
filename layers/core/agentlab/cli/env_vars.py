"""`--env NAME=TYPE:VALUE` into the API's typed env: `{"NAME": {"type": TYPE, "value": VALUE}}`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from agentlab.cli.errors import UsageError

ENV_SYNTAX = "NAME=TYPE:VALUE with TYPE one of str, int, float, bool, json (for example RATE=float:0.5)"
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_env_assignments(assignments: Iterable[str]) -> dict[str, dict[str, Any]]:
    env: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        name, env_type, value = parse_env_assignment(assignment)
        if name in env:
            raise UsageError(f"invalid --env {assignment!r}: {name} is given more than once")
        env[name] = {"type": env_type, "value": value}
    return env


def parse_env_assignment(assignment: str) -> tuple[str, str, Any]:
    name, equals, typed_value = assignment.partition("=")
    env_type, colon, raw = typed_value.partition(":")
    if not equals or not colon:
        raise UsageError(f"invalid --env {assignment!r}: expected {ENV_SYNTAX}")
    if not _NAME.match(name):
        raise UsageError(
            f"invalid --env {assignment!r}: the name must be upper-case letters, digits and _ "
            "(not starting with a digit, at most 64 characters)"
        )
    convert = _CONVERTERS.get(env_type)
    if convert is None:
        raise UsageError(f"invalid --env {assignment!r}: unknown type {env_type!r}; expected {ENV_SYNTAX}")
    try:
        value = convert(raw)
    except ValueError as exc:
        raise UsageError(f"invalid --env {assignment!r}: {exc}") from exc
    return name, env_type, value


def _to_int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not an int") from None


def _to_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a float") from None
    if not math.isfinite(value):
        raise ValueError("float values must be finite")
    return value


def _to_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a bool (use true or false)")


def _to_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the value is not valid JSON ({exc.msg} at position {exc.pos})") from None


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "json": _to_json,
}
