"""Seed an org with the platform's demo agents (idempotent)."""

from __future__ import annotations

from typing import Any

from agentlab.seed import seed_demo_agents


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"created": seed_demo_agents(str(event["org_id"]))}
