"""The provider-neutral conversation: what the workflow stores and what every provider translates from and to."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

ImageMediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]
IMAGE_MEDIA_TYPES: tuple[str, ...] = ("image/png", "image/jpeg", "image/gif", "image/webp")

# The platform's answer to a `finish` whose goal does not hold starts with this; the scripted model looks for it.
GOAL_FEEDBACK_PREFIX = "Goal not met:"

# A tool call whose arguments were not a JSON object keeps the raw text under this key, for the model to see.
INVALID_ARGUMENTS_KEY = "_invalid_json"

# Why a model stopped, in the words every provider's reply is translated to.
STOP_END_TURN = "end_turn"
STOP_TOOL_USE = "tool_use"
STOP_SEQUENCE = "stop_sequence"
STOP_MAX_TOKENS = "max_tokens"
STOP_CONTENT_FILTERED = "content_filtered"
STOP_GUARDRAIL = "guardrail_intervened"
STOP_CONTEXT_EXCEEDED = "model_context_window_exceeded"


class ImageBlock(BaseModel):
    # Conversations are stored as JSON; raw image bytes must survive that round trip.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    media_type: ImageMediaType
    data: bytes

    @property
    def format(self) -> str:
        """The short format name ("png", "jpeg", ...) that Bedrock expects."""
        return self.media_type.removeprefix("image/")


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any]


class ToolResult(BaseModel):
    tool_call_id: str
    content: str
    is_error: bool = False
    images: list[ImageBlock] = []


class Message(BaseModel):
    role: Literal["user", "assistant"]
    text: str | None = None
    images: list[ImageBlock] = []
    tool_calls: list[ToolCall] = []
    tool_results: list[ToolResult] = []

    @model_validator(mode="after")
    def _tool_blocks_match_role(self) -> Message:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool calls")
        if self.tool_results and self.role != "user":
            raise ValueError("only user messages carry tool results")
        return self


class ToolSpec(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class ModelResponse(BaseModel):
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    stop_reason: str
    latency_ms: int
    model_id: str
    provider: str
    cost_usd: float
    attempts: list[str] = []
    # False when the model has no entry in the price table, so cost_usd (0.0) is not a real figure.
    cost_known: bool = True
    # The output limit the request was sent with.
    max_tokens: int = 0
