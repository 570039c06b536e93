"""State machine step: evaluate."""

from agentlab.workflow.lambda_entry import step_handler
from agentlab.workflow.steps import evaluate

handler = step_handler(evaluate)
