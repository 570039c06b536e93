"""What a model's reply means for the run, the same for every provider: a tool call to answer, a plain answer that
ends the turn, or a reply that must not be taken as either (cut off by the output limit, empty, filtered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from agentlab.llm.types import (
    INVALID_ARGUMENTS_KEY,
    STOP_CONTENT_FILTERED,
    STOP_CONTEXT_EXCEEDED,
    STOP_GUARDRAIL,
    STOP_MAX_TOKENS,
    ModelResponse,
    ToolCall,
)

ReplyKind = Literal["calls", "answer", "truncated", "empty", "refused"]

# How often a run asks the model again after a reply cut off by the output limit, or an empty one, before it fails.
TRUNCATED_RETRIES = 2
EMPTY_RETRIES = 1

NOTICE_TRUNCATED = "truncated"
NOTICE_EMPTY = "empty"

# Stop reasons that end the run: the provider withheld the reply or cannot take the conversation any further.
REFUSALS: dict[str, tuple[str, str]] = {
    STOP_CONTENT_FILTERED: ("model_content_filtered", "the model's reply was withheld by its content filter"),
    STOP_GUARDRAIL: ("model_guardrail_intervened", "a guardrail stopped the model's reply"),
    STOP_CONTEXT_EXCEEDED: (
        "model_context_exceeded",
        "the conversation no longer fits the model's context window",
    ),
}


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    # For a refused reply: the run's error code and message.
    code: str = ""
    message: str = ""


def classify(response: ModelResponse) -> Reply:
    """A reply cut off by the output limit is never an answer, whatever it holds: its last tool call or sentence may be
    incomplete. An empty one is not an answer either. A non-empty text reply that ended normally is the model's way
    to finish."""
    if response.stop_reason == STOP_MAX_TOKENS:
        return Reply("truncated")
    refusal = REFUSALS.get(response.stop_reason)
    if refusal is not None:
        return Reply("refused", *refusal)
    if response.tool_calls:
        return Reply("calls")
    if response.text.strip():
        return Reply("answer")
    return Reply("empty")


def truncated_notice(max_tokens: int) -> str:
    return (
        f"Your last reply was cut off at the output limit of {max_tokens} tokens, so it was discarded and nothing in "
        "it was run. Reply again, shorter: split long code into smaller cells, write large data to files instead of "
        "printing it, and keep the final answer concise."
    )


EMPTY_NOTICE = "Your last reply was empty. Call one of the tools, or give your final answer with `finish`."


def trailing_notices(messages: list[dict[str, Any]], kind: str) -> int:
    """How many of the platform's notices of `kind` end the transcript in a row: each is one re-ask already made."""
    count = 0
    for message in reversed(messages):
        if message.get("notice") != kind:
            break
        count += 1
    return count


def invalid_arguments(call: ToolCall, model: type[BaseModel]) -> str | None:
    """Why the call's arguments do not fit the tool's input model, with that model's schema; None when they do."""
    raw = call.arguments.get(INVALID_ARGUMENTS_KEY)
    if isinstance(raw, str):
        problem = f"the arguments are not a JSON object: {raw[:200]!r}"
    else:
        try:
            model.model_validate(call.arguments)
        except ValidationError as exc:
            problem = "; ".join(_describe_error(error) for error in exc.errors()[:5])
        else:
            return None
    schema = model.model_json_schema()
    schema.pop("title", None)
    return (
        f"The call to `{call.name}` was not run: {problem}. Call it again with arguments that match its schema: "
        f"{_compact(schema)}"
    )


def _describe_error(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "arguments"
    return f"{where}: {error.get('msg', 'invalid')}"


def _compact(schema: dict[str, Any]) -> str:
    import json

    return json.dumps(schema, separators=(",", ":"))
