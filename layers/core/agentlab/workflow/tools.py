"""The tools an agent can call. Their input schemas are generated from these models, and every call's arguments are
validated against them before anything runs."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentlab.llm.types import ToolSpec


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


NonBlank = Annotated[str, AfterValidator(_not_blank)]


class PythonInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: NonBlank = Field(
        min_length=1, description="Python code to run as the next cell of this run's session (state is kept)."
    )


class PythonTaskInput(BaseModel):
    """The python tool of an agent with a code model: the reasoning model describes a cell, the code model writes it."""

    model_config = ConfigDict(extra="forbid")
    task: NonBlank = Field(
        min_length=1,
        description="What the next cell should do, precisely: inputs, steps, files to write and what to print.",
    )


class ListFilesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: NonBlank = Field(
        min_length=1, description="A path relative to the workspace, e.g. inputs/data.csv or chart.png."
    )


class RequestApprovalInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: NonBlank = Field(min_length=1, description="What you want to do and why it needs a person's approval.")


class FinishInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: NonBlank = Field(min_length=1, description="The final answer for the user.")


PYTHON_DESCRIPTION = (
    "Run Python in a sandbox (numpy, pandas, matplotlib, scipy; no network). The working directory is the run's "
    "workspace; input files are under inputs/. Files you write and matplotlib figures become artifacts."
)
PYTHON_TASK_DESCRIPTION = (
    "Have the next Python cell written and run in a sandbox (numpy, pandas, matplotlib, scipy; no network). Describe "
    "the cell as a task; a code model writes it and you get its code and output back. The working directory is the "
    "run's workspace; input files are under inputs/. Files written and matplotlib figures become artifacts."
)

TOOL_INPUTS: dict[str, tuple[type[BaseModel], str]] = {
    "python": (PythonInput, PYTHON_DESCRIPTION),
    "list_files": (ListFilesInput, "List the files in the workspace (inputs and files written so far)."),
    "read_file": (ReadFileInput, "Read a file of the workspace (text, or an image shown to you)."),
    "request_approval": (RequestApprovalInput, "Pause and ask a person to approve before continuing."),
    "finish": (FinishInput, "End the run with the final answer once the task is done."),
}


def tool_input(name: str, *, code_model: bool) -> type[BaseModel]:
    """The input model a call to `name` is validated against."""
    if name == "python" and code_model:
        return PythonTaskInput
    return TOOL_INPUTS[name][0]


def tool_specs(enabled: list[str], *, code_model: bool = False) -> list[ToolSpec]:
    specs = []
    for name in enabled:
        model = tool_input(name, code_model=code_model)
        description = PYTHON_TASK_DESCRIPTION if model is PythonTaskInput else TOOL_INPUTS[name][1]
        schema = model.model_json_schema()
        schema.pop("title", None)
        specs.append(ToolSpec(name=name, description=description, input_schema=schema))
    return specs
