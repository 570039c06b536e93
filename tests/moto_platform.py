"""The platform on moto in this process, for integration tests."""

from __future__ import annotations

import os
from pathlib import Path

from apiclient import EventClient

from agentlab.aws import AwsClients
from agentlab.local.aws import create_resources
from agentlab.local.cognito import ID_STRATEGY_ENV, ensure_user_pool
from agentlab.local.functions import HandlerRegistry
from agentlab.settings import CoreSettings
from agentlab.store.orgs import OrgStore
from agentlab.store.table import Table


class Platform:
    """The platform on moto in this process: resources created from the same definitions as the local stack."""

    def __init__(self, root: Path, sandbox_root: Path, jwks_base_url: str = "") -> None:
        os.environ.update(ID_STRATEGY_ENV)
        os.environ.update(
            {
                "AGENTLAB_TABLE_NAME": "agentlab-test",
                "AGENTLAB_BUCKET_NAME": "agentlab-test-data",
                "AGENTLAB_DEFAULT_MODEL_REF": "scripted",
                "AGENTLAB_SANDBOX_ROOT": str(sandbox_root),
                "AGENTLAB_S3_PRESIGN_ENDPOINT_URL": "",
                # Suites create many runs quickly; the rate-limit tests set their own limits.
                "AGENTLAB_RATE_LIMIT_RUNS_PER_MINUTE": "100000",
                "AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE": "100000",
            }
        )
        self.registry = HandlerRegistry(root / "functions")
        self.settings = CoreSettings()
        self.clients = AwsClients(self.settings)
        self.state_machines = create_resources(
            self.clients,
            table_name=self.settings.table_name,
            bucket_name=self.settings.bucket_name,
            region=self.settings.region,
            statemachines_dir=root / "statemachines",
            registry=self.registry,
        )
        os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"] = self.state_machines["agent_run"]
        os.environ["AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN"] = self.state_machines["repo_optimize"]
        # The user pool as the local stack makes it; its key set is served over HTTP by `jwks_base_url`.
        self.user_pool_id, self.client_id = ensure_user_pool(self.clients.cognito)
        os.environ.update(
            {
                "AGENTLAB_COGNITO_USER_POOL_ID": self.user_pool_id,
                "AGENTLAB_COGNITO_CLIENT_ID": self.client_id,
                "AGENTLAB_COGNITO_JWKS_URL": f"{jwks_base_url}/{self.user_pool_id}/.well-known/jwks.json",
            }
        )
        self.table = Table(lambda: self.clients.dynamodb, self.settings.table_name)
        self.orgs = OrgStore(self.table)

    def new_org(self, name: str = "acme", role: str = "admin") -> tuple[str, str]:
        org = self.orgs.create_org(name)
        _, key = self.orgs.create_api_key(org.id, name="test", role=role)  # type: ignore[arg-type]
        return org.id, key

    def api(self, key: str | None = None) -> EventClient:
        return EventClient(self.registry.handler("api"), key)

    def new_user(self, admin: EventClient, email: str, role: str, password: str = "Correct-Horse-9-Battery") -> dict:
        """A person in the admin's org, created through the API; returns the member with its password."""
        response = admin.post("/v1/members", {"email": email, "role": role, "password": password})
        assert response.status == 201, response.text
        return {**response.json(), "password": password}

    def login(self, email: str, password: str = "Correct-Horse-9-Battery") -> dict:
        response = self.api().post("/v1/auth/login", {"email": email, "password": password})
        assert response.status == 200, response.text
        return response.json()


def executions_end(platform: Platform, timeout_s: float = 3) -> None:
    """Let the test's executions end before its AWS goes: a run is terminal before its last step returns, and an
    execution still running would go on writing into the next test's fresh backend. One held on purpose (a task token
    nobody answers) is left as it is after the timeout."""
    import time

    client = platform.clients.stepfunctions
    deadline = time.monotonic() + timeout_s
    for arn in platform.state_machines.values():
        while time.monotonic() < deadline:
            running = client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            if not running:
                break
            time.sleep(0.05)
