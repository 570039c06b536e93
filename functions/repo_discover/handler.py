"""State machine step (repo_optimize): discover."""

from agentlab.repo_optimize.discover_step import discover
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(discover)
