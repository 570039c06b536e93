"""The agentlab CDK app: one stack that composes one construct per concern."""
