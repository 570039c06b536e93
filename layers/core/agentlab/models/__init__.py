"""Domain and API models (pydantic v2)."""

from agentlab.models.agent import Agent, AgentCreate, AgentLimits, AgentModels, AgentUpdate, AgentVersion
from agentlab.models.common import Page, utc_now
from agentlab.models.file import FileCreate, FileRecord, FileStatus, FileUpload
from agentlab.models.org import ApiKeyRecord, Caller, Org, Role
from agentlab.models.run import (
    TERMINAL_STATUSES,
    Artifact,
    Budget,
    EnvVar,
    Goal,
    Run,
    RunCreate,
    RunError,
    RunStatus,
    ScriptAction,
    Step,
    StepType,
    Usage,
)

__all__ = [
    "TERMINAL_STATUSES",
    "Agent",
    "AgentCreate",
    "AgentLimits",
    "AgentModels",
    "AgentUpdate",
    "AgentVersion",
    "ApiKeyRecord",
    "Artifact",
    "Budget",
    "Caller",
    "EnvVar",
    "FileCreate",
    "FileRecord",
    "FileStatus",
    "FileUpload",
    "Goal",
    "Org",
    "Page",
    "Role",
    "Run",
    "RunCreate",
    "RunError",
    "RunStatus",
    "ScriptAction",
    "Step",
    "StepType",
    "Usage",
    "utc_now",
]
