"""What runs while CloudFormation deploys the stack (custom resource handlers' logic)."""
