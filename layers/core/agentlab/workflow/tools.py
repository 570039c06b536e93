"""The tools an agent can call. Their input schemas are generated from these models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agentlab.llm.types import ToolSpec


class PythonInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Python code to run as the next cell of this run's session (state is kept).")


class ListFilesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="A path relative to the workspace, e.g. inputs/data.csv or chart.png.")


class RequestApprovalInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="What you want to do and why it needs a person's approval.")


class FinishInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(description="The final answer for the user.")


TOOL_INPUTS: dict[str, tuple[type[BaseModel], str]] = {
    "python": (
        PythonInput,
        "Run Python in a sandbox (numpy, pandas, matplotlib, scipy; no network). The working "
        "directory is the run's workspace; input files are under inputs/. Files you write and "
        "matplotlib figures become artifacts.",
    ),
    "list_files": (ListFilesInput, "List the files in the workspace (inputs and files written so far)."),
    "read_file": (ReadFileInput, "Read a file of the workspace (text, or an image shown to you)."),
    "request_approval": (RequestApprovalInput, "Pause and ask a person to approve before continuing."),
    "finish": (FinishInput, "End the run with the final answer once the task is done."),
}


def tool_specs(enabled: list[str]) -> list[ToolSpec]:
    specs = []
    for name in enabled:
        model, description = TOOL_INPUTS[name]
        schema = model.model_json_schema()
        schema.pop("title", None)
        specs.append(ToolSpec(name=name, description=description, input_schema=schema))
    return specs
