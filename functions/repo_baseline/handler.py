"""State machine step (repo_optimize): baseline."""

from agentlab.repo_optimize.baseline_step import baseline
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(baseline)
