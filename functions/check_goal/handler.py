"""State machine step: check_goal."""

from agentlab.workflow.check_goal import check_goal
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(check_goal)
