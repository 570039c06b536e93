"""State machine step: finalize."""

from agentlab.workflow.finalize import finalize
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(finalize)
