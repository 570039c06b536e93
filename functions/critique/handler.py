"""State machine step: critique."""

from agentlab.workflow.critique import critique
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(critique)
