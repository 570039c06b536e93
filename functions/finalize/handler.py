"""State machine step: finalize."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.steps import finalize

handler = step_handler(finalize)
