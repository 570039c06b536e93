"""State machine step: record why a run failed and end it."""

from agentlab.workflow.finalize import record_failure
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(record_failure, "error")
