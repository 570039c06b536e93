"""Demo content every new local stack starts with."""

from __future__ import annotations

from agentlab.aws import AwsClients
from agentlab.models import AgentCreate
from agentlab.settings import CoreSettings
from agentlab.store.agents import AgentStore
from agentlab.store.table import Table

DEMO_AGENTS = [
    AgentCreate(
        name="demo-analyst",
        description="Analyses data and draws charts with Python. Uses the platform's default model.",
        system_prompt="You are a careful data analyst. Prefer pandas for tables and matplotlib for charts.",
    ),
]


def seed_demo_agents(org_id: str, settings: CoreSettings | None = None) -> list[str]:
    settings = settings or CoreSettings()
    clients = AwsClients(settings)
    agents = AgentStore(Table(lambda: clients.dynamodb, settings.table_name))
    created = []
    for spec in DEMO_AGENTS:
        if agents.find_by_name(org_id, spec.name) is None:
            created.append(agents.create(org_id, spec).id)
    return created
