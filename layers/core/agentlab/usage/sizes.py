"""The sizes the stack gives what runs a run, in one place: the CDK app builds its functions with these, and the
usage meter prices a step's time with them."""

from __future__ import annotations

# Memory of each workflow step function and of the API function, in MB.
STEP_MEMORY_MB = 1_024
API_MEMORY_MB = 1_024
# Lambda and the sandbox's Fargate tasks run on arm64 (Graviton).
ARCHITECTURE = "arm64"
# The sandbox's default Fargate task (cdk/agentlab_cdk/sandbox.py `default_task_size`): the default limits' 1 vCPU,
# and the kernel's 1,024 MB with the task's own 512 MB beside it, rounded up to a valid size. A run's sandbox seconds
# are priced on this size.
SANDBOX_TASK_VCPUS = 1.0
SANDBOX_TASK_MEMORY_MB = 2_048
