"""State machine step: evaluate."""

from agentlab.workflow.evaluate import evaluate
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(evaluate)
