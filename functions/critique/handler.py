"""State machine step: critique."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.steps import critique

handler = step_handler(critique)
