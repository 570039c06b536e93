"""Turning a run's stored transcript (and its thread's earlier runs) into model messages."""

from __future__ import annotations

from typing import Any

from agentlab.llm.types import ImageBlock, Message, ToolCall, ToolResult
from agentlab.models import Agent, FileRecord, Run
from agentlab.store.blobs import BlobStore

PLATFORM_INSTRUCTIONS = """You are an agent on agentlab. You solve the task by calling tools, one per turn.
- `python` runs a cell in a sandbox that keeps state between cells. The working directory is your workspace;
  input files are under inputs/. Save charts with matplotlib (plt.savefig) and files into the workspace:
  they are returned to the user as artifacts. There is no network access.
- Call `finish` with the final answer when the task is done. If a goal is set, it is checked after `finish`.
"""


def system_prompt(agent: Agent, run: Run) -> str:
    parts = [PLATFORM_INSTRUCTIONS]
    if agent.system_prompt:
        parts.append(agent.system_prompt)
    if run.goal and run.goal.criterion:
        parts.append(f"Goal (checked when you finish): {run.goal.criterion}")
    return "\n\n".join(parts)


def prompt_text(run: Run, files: list[FileRecord]) -> str:
    if not files:
        return run.prompt
    listing = ", ".join(f"inputs/{f.name} ({f.content_type}, {f.size} bytes)" for f in files)
    return f"{run.prompt}\n\nInput files: {listing}"


def stored_to_message(item: dict[str, Any], blobs: BlobStore) -> Message:
    images = [ImageBlock(media_type=i["media_type"], data=blobs.read(i["s3_key"])) for i in item.get("images", [])]
    return Message(
        role=item["role"],
        text=item.get("text"),
        images=images,
        tool_calls=[ToolCall.model_validate(c) for c in item.get("tool_calls", [])],
        tool_results=[ToolResult.model_validate(r) for r in item.get("tool_results", [])],
    )


def message_to_stored(message: Message) -> dict[str, Any]:
    """Messages written by the platform carry no inline images: images are stored by reference."""
    return {
        "role": message.role,
        "text": message.text,
        "tool_calls": [c.model_dump(mode="json") for c in message.tool_calls],
        "tool_results": [r.model_dump(mode="json", exclude={"images"}) for r in message.tool_results],
    }


def thread_history(earlier_runs: list[Run]) -> list[Message]:
    """Earlier runs of the thread as prompt/answer pairs, oldest first."""
    history: list[Message] = []
    for earlier in earlier_runs:
        history.append(Message(role="user", text=earlier.prompt))
        answer = earlier.result or (earlier.error.message if earlier.error else f"(run ended {earlier.status})")
        history.append(Message(role="assistant", text=answer))
    return history
