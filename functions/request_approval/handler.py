"""State machine step: park the run until a person approves or rejects (called with a task token)."""

from agentlab.workflow.approval import request_approval
from agentlab.workflow.lambda_entry import step_handler

handler = step_handler(request_approval, "task_token")
