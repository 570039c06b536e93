"""The `agentlab` command-line client: talks HTTP to any agentlab deployment."""
