"""State machine step: prepare."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.prepare import prepare

handler = step_handler(prepare)
