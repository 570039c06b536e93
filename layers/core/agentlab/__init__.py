"""agentlab: a serverless platform for running AI agents that write and execute code."""

__version__ = "0.1.0"
