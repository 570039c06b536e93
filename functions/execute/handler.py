"""State machine step: execute."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.steps import execute

handler = step_handler(execute)
