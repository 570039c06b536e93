"""A run step as a few readable lines: what the model thought, what the critic said, what the code printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentlab.cli.output import JsonObject, format_cost, format_duration_ms, format_tokens, one_line, truncate

INDENT = "    "
BLOCK = INDENT + "│ "
TOOL_ARGUMENTS_WIDTH = 160


def format_step(step: JsonObject, *, max_lines: int | None = 40) -> list[str]:
    detail = step.get("detail") or {}
    render = _RENDERERS.get(str(step.get("type")), _render_unknown)
    head, body = render(detail, max_lines)
    header = " · ".join(part for part in [f"#{step.get('seq')} {step.get('type')}", head, *_metering(step)] if part)
    return [header, *body]


def _metering(step: JsonObject) -> list[str]:
    parts: list[str] = []
    if step.get("model_id"):
        parts.append(str(step["model_id"]))
    if step.get("input_tokens") or step.get("output_tokens"):
        parts.append(
            f"{format_tokens(step.get('input_tokens'))} in / {format_tokens(step.get('output_tokens'))} out tokens"
        )
    if step.get("cost_usd"):
        parts.append(format_cost(step["cost_usd"]))
    duration = format_duration_ms(step.get("duration_ms"))
    if duration:
        parts.append(duration)
    return parts


def _render_think(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    body = _indented(str(detail.get("text") or ""), max_lines)
    body.extend(f"{INDENT}→ {_describe_tool_call(call)}" for call in detail.get("tool_calls") or [])
    return "", body


def _render_critique(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    findings = detail.get("findings") or []
    body = [f"{INDENT}- {_describe_finding(finding)}" for finding in findings]
    return f"verdict: {detail.get('verdict', '?')}", _capped(body, max_lines)


def _render_execute(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    head = f"exit {detail['exit_code']}" if detail.get("exit_code") is not None else ""
    body: list[str] = []
    for label in ("code", "stdout", "stderr"):
        text = str(detail.get(label) or "").rstrip("\n")
        if text:
            body.append(f"{INDENT}{label}:")
            body.extend(_block(text, max_lines))
    if detail.get("limit"):
        body.append(f"{INDENT}limit hit: {detail['limit']}")
    artifacts = detail.get("artifacts") or []
    if artifacts:
        body.append(f"{INDENT}artifacts: {', '.join(_artifact_name(artifact) for artifact in artifacts)}")
    return head, body


def _render_evaluate(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    head = "goal met" if detail.get("met") else "goal not met"
    return head, _indented(str(detail.get("reason") or ""), max_lines)


def _render_approval(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    return str(detail.get("decision") or "requested"), _indented(str(detail.get("comment") or ""), max_lines)


def _render_error(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    return str(detail.get("code") or "error"), _indented(str(detail.get("message") or ""), max_lines)


def _render_unknown(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    return "", _indented(json.dumps(detail, indent=2, ensure_ascii=False), max_lines) if detail else []


_RENDERERS: dict[str, Callable[[JsonObject, int | None], tuple[str, list[str]]]] = {
    "think": _render_think,
    "critique": _render_critique,
    "execute": _render_execute,
    "evaluate": _render_evaluate,
    "approval": _render_approval,
    "error": _render_error,
}


def _describe_tool_call(call: Any) -> str:
    if not isinstance(call, dict):
        return truncate(one_line(str(call)), TOOL_ARGUMENTS_WIDTH)
    name = call.get("name") or call.get("tool") or "tool"
    arguments = call.get("arguments", call.get("input", call.get("args")))
    if arguments is None:
        return str(name)
    rendered = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return f"{name}({truncate(one_line(rendered), TOOL_ARGUMENTS_WIDTH)})"


def _describe_finding(finding: Any) -> str:
    if not isinstance(finding, dict):
        return one_line(str(finding))
    prefix = " ".join(f"[{finding[key]}]" for key in ("severity", "rule", "code") if finding.get(key))
    where = f" (line {finding['line']})" if finding.get("line") is not None else ""
    message = one_line(str(finding.get("message") or ""))
    return " ".join(part for part in (prefix, message) if part) + where


def _artifact_name(artifact: Any) -> str:
    if isinstance(artifact, dict):
        return str(artifact.get("name") or artifact.get("id") or "?")
    return str(artifact)


def _indented(text: str, max_lines: int | None) -> list[str]:
    return _capped([f"{INDENT}{line}" for line in text.rstrip("\n").splitlines()], max_lines)


def _block(text: str, max_lines: int | None) -> list[str]:
    return _capped([f"{BLOCK}{line}" for line in text.splitlines()], max_lines)


def _capped(lines: list[str], max_lines: int | None) -> list[str]:
    if max_lines is None or len(lines) <= max_lines:
        return lines
    hidden = len(lines) - max_lines
    return [*lines[:max_lines], f"{INDENT}… {hidden} more line{'s' if hidden != 1 else ''} (--full shows all)"]
