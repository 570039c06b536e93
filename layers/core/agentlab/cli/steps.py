"""A run step as a few readable lines: what the model thought, what the critic said, what the code printed.

A field too long for the step's record holds a preview (head and tail around an omission marker); the step's
`full_output` says where its whole text is. The lines say which fields are previews and give their URLs, or show the
whole texts when the caller fetched them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agentlab.cli.output import (
    JsonObject,
    cost_is_known,
    describe_cost,
    format_cost,
    format_duration_ms,
    format_tokens,
    one_line,
    truncate,
)

INDENT = "    "
BLOCK = INDENT + "│ "
TOOL_ARGUMENTS_WIDTH = 160

# The text fields each kind of step shows; a fetched full text takes the place of its preview there. Any other
# field with a full output (tool calls, a code model's task, ...) gets a block of its own.
_SHOWN_TEXT_FIELDS: dict[str, frozenset[str]] = {
    "think": frozenset({"text"}),
    "execute": frozenset({"code", "stdout", "stderr"}),
    "evaluate": frozenset({"reason"}),
    "approval": frozenset({"comment"}),
    "error": frozenset({"message"}),
}


def format_step(
    step: JsonObject, *, max_lines: int | None = 40, full_texts: Mapping[str, str] | None = None
) -> list[str]:
    """`full_texts` maps fields of `step["full_output"]` to their fetched whole texts."""
    full_texts = full_texts or {}
    step_type = str(step.get("type"))
    detail = dict(step.get("detail") or {})
    shown = _SHOWN_TEXT_FIELDS.get(step_type, frozenset())
    extra: list[str] = []
    for name, text in full_texts.items():
        if name in shown and isinstance(detail.get(name), str):
            detail[name] = text
        else:
            extra.extend(_full_output_block(name, text, max_lines))
    render = _RENDERERS.get(step_type, _render_unknown)
    head, body = render(detail, max_lines)
    header = " · ".join(part for part in [f"#{step.get('seq')} {step_type}", head, *_metering(step)] if part)
    return [header, *body, *extra, *preview_notes(step.get("full_output") or {}, exclude=full_texts)]


def preview_notes(full_output: Mapping[str, Any], *, exclude: Mapping[str, str] | None = None) -> list[str]:
    """One line per field that shows only a preview: how long the whole text is and where to get it."""
    notes = []
    for name, ref in sorted(full_output.items()):
        if (exclude and name in exclude) or not isinstance(ref, dict):
            continue
        where = f"full output: {ref['url']}" if ref.get("url") else "the full output is stored with the run"
        notes.append(f"{INDENT}{name} is a preview of {int(ref.get('chars') or 0):,} characters; {where}")
    return notes


def _full_output_block(name: str, text: str, max_lines: int | None) -> list[str]:
    """A whole text under its field's name; tool calls (JSON) as each call's arguments, code as code."""
    try:
        calls = json.loads(text) if name == "tool_calls" else None
    except ValueError:
        calls = None
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        return [f"{INDENT}{name} (full output):", *_block(text, max_lines)]
    lines: list[str] = []
    for call in calls:
        arguments = call.get("arguments")
        for argument, value in (arguments if isinstance(arguments, dict) else {}).items():
            lines.append(f"{INDENT}→ {call.get('name') or 'tool'} {argument} (full output):")
            rendered = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
            lines.extend(_block(rendered, max_lines))
    return lines


def _metering(step: JsonObject) -> list[str]:
    parts: list[str] = []
    if step.get("model_id"):
        parts.append(str(step["model_id"]))
    if step.get("input_tokens") or step.get("output_tokens"):
        parts.append(
            f"{format_tokens(step.get('input_tokens'))} in / {format_tokens(step.get('output_tokens'))} out tokens"
        )
    if not cost_is_known(step):
        parts.append(describe_cost(step))
    elif step.get("cost_usd"):
        parts.append(format_cost(step["cost_usd"]))
    duration = format_duration_ms(step.get("duration_ms"))
    if duration:
        parts.append(duration)
    return parts


def _render_think(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    body = _indented(str(detail.get("text") or ""), max_lines)
    body.extend(f"{INDENT}→ {_describe_tool_call(call)}" for call in detail.get("tool_calls") or [])
    if detail.get("problem"):
        body.append(f"{INDENT}not run: {one_line(str(detail['problem']))}")
    if "reasoning_model" in detail or "code_model" in detail:
        # A code-model turn: the step's meters are the sum of both models.
        for role in ("reasoning", "code"):
            call = detail.get(f"{role}_model")
            described = _describe_model_call(call) if isinstance(call, dict) else "not called"
            body.append(f"{INDENT}{role} model: {described}")
    return _reply_note(detail), body


def _reply_note(detail: JsonObject) -> str:
    """What became of a reply that was neither tool calls nor an answer; the run's outcome says what followed."""
    reply = detail.get("reply")
    if reply == "truncated":
        limit = detail.get("max_tokens")
        of = f" of {format_tokens(limit)} tokens" if isinstance(limit, int) else ""
        return f"cut off by the output limit{of}: nothing in it was run"
    if reply == "empty":
        return "empty reply: nothing to run"
    if reply == "refused":
        return f"reply withheld by the provider (stop reason: {detail.get('stop_reason') or '?'})"
    return ""


def _describe_model_call(call: JsonObject) -> str:
    name = str(call.get("model_id") or "?")
    if call.get("provider") and call.get("provider") != name:
        name += f" ({call['provider']})"
    tokens = f"{format_tokens(call.get('input_tokens'))} in / {format_tokens(call.get('output_tokens'))} out tokens"
    return f"{name} · {tokens} · {describe_cost(call)}"


def _render_critique(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    findings = detail.get("findings") or []
    body = [f"{INDENT}- {_describe_finding(finding)}" for finding in findings]
    verdict, mode = detail.get("verdict", "?"), detail.get("mode")
    head = f"verdict: {verdict}"
    if verdict == "block" and mode in ("enforce", "warn", None):
        # Under `warn` the findings are recorded and the cell runs anyway.
        head += " — ran anyway" if mode == "warn" else " — not run"
    if mode:
        head += f" (critic mode: {mode})"
    return head, _capped(body, max_lines)


def _render_execute(detail: JsonObject, max_lines: int | None) -> tuple[str, list[str]]:
    head = f"exit {detail['exit_code']}" if detail.get("exit_code") is not None else ""
    if detail.get("critic") == "off":
        head = " · ".join(part for part in (head, "critic off") if part)
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
