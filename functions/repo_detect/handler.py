"""State machine step (repo_optimize): detect."""

from agentlab.repo_optimize.detect_step import detect
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(detect)
