"""Signed webhooks to customers' endpoints: the event envelope, its Standard Webhooks signature, one delivery."""
