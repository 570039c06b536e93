"""Schedules: agent runs started on a cron, rate or one-time expression by EventBridge Scheduler."""
