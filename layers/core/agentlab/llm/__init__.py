"""Model providers behind one protocol: Amazon Bedrock, OpenAI-compatible servers and the scripted stand-in.

Only the light modules are re-exported here; providers are imported from their own modules so that a step which
needs one provider does not pay for loading the others.
"""

from agentlab.llm.base import ModelProvider, complete_with_fallback, parse_model_ref
from agentlab.llm.errors import AllModelsFailed, InvalidModelRef, ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.types import ImageBlock, Message, ModelResponse, ToolCall, ToolResult, ToolSpec, Usage

__all__ = [
    "AllModelsFailed",
    "ImageBlock",
    "InvalidModelRef",
    "Message",
    "ModelError",
    "ModelProvider",
    "ModelResponse",
    "ModelThrottled",
    "ModelUnavailable",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "complete_with_fallback",
    "parse_model_ref",
]
