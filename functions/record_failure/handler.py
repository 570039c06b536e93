"""State machine step: record why a run failed and end it."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.steps import record_failure

handler = step_handler(record_failure, "error")
