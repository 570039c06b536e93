"""State machine step: think."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.think import think

handler = step_handler(think)
