"""State machine step: execute."""

from agentlab.workflow.execute import execute
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(execute)
