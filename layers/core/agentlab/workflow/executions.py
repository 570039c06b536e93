"""Start and stop the Step Functions execution that drives a run. The execution is named after the run, so a second
start of the same run is a no-op. A run resumed after its execution was lost (the local stack restarted, see
agentlab/workflow/prepare.py::resume_run) gets a new execution for the same run, named `<run id>-resume-<n>`: names
stay unique, and `run_id_of` reads the run back from any of them."""

from __future__ import annotations

import json
from typing import Any

RESUME_SEPARATOR = "-resume-"


def execution_name(run_id: str, resume: int = 0) -> str:
    return f"{run_id}{RESUME_SEPARATOR}{resume}" if resume else run_id


def run_id_of(name: str) -> str:
    """The run an execution drives, from the execution's name (run ids are ULIDs, which hold no '-')."""
    return name.split(RESUME_SEPARATOR, 1)[0]


def execution_arn(state_machine_arn: str, run_id: str, resume: int = 0) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{execution_name(run_id, resume)}"


class Executions:
    """`state_machine_arn` drives agent runs; `others` maps further workflows (repo_optimize) to theirs."""

    def __init__(self, client_factory: Any, state_machine_arn: str, others: dict[str, str] | None = None) -> None:
        self._client_factory = client_factory
        self.state_machine_arn = state_machine_arn
        self._others = dict(others or {})

    def arn_for(self, workflow: str) -> str:
        if workflow == "agent_run":
            return self.state_machine_arn
        arn = self._others.get(workflow, "")
        if not arn:
            raise ValueError(f"no state machine is configured for the {workflow} workflow")
        return arn

    def start(self, org_id: str, run_id: str, *, resume: int = 0, workflow: str = "agent_run") -> str:
        client = self._client_factory()
        state_machine_arn = self.arn_for(workflow)
        try:
            response = client.start_execution(
                stateMachineArn=state_machine_arn,
                name=execution_name(run_id, resume),
                input=json.dumps({"org_id": org_id, "run_id": run_id}),
            )
        except client.exceptions.ExecutionAlreadyExists:
            return execution_arn(state_machine_arn, run_id, resume)
        return str(response["executionArn"])

    def stop(self, run_id: str, *, cause: str, resume: int = 0, workflow: str = "agent_run") -> None:
        """Stop the run's current execution: the first one, or the `resume`-th resumed one."""
        client = self._client_factory()
        try:
            client.stop_execution(
                executionArn=execution_arn(self.arn_for(workflow), run_id, resume), cause=cause[:32_000]
            )
        except client.exceptions.ExecutionDoesNotExist:
            return
