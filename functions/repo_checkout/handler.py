"""State machine step (repo_optimize): checkout."""

from agentlab.repo_optimize.checkout_step import checkout
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(checkout)
