"""Start and stop the Step Functions execution that drives a run. The execution is named after the run, so a second
start of the same run is a no-op."""

from __future__ import annotations

import json
from typing import Any


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"


class Executions:
    def __init__(self, client_factory: Any, state_machine_arn: str) -> None:
        self._client_factory = client_factory
        self.state_machine_arn = state_machine_arn

    def start(self, org_id: str, run_id: str) -> str:
        client = self._client_factory()
        try:
            response = client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=run_id,
                input=json.dumps({"org_id": org_id, "run_id": run_id}),
            )
        except client.exceptions.ExecutionAlreadyExists:
            return execution_arn(self.state_machine_arn, run_id)
        return response["executionArn"]

    def stop(self, run_id: str, *, cause: str) -> None:
        client = self._client_factory()
        try:
            client.stop_execution(executionArn=execution_arn(self.state_machine_arn, run_id), cause=cause[:32_000])
        except client.exceptions.ExecutionDoesNotExist:
            return
