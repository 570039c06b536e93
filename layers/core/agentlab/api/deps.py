"""Everything the API needs, built once per process from settings and handed to the routes."""

from __future__ import annotations

from dataclasses import dataclass

from agentlab.aws import AwsClients
from agentlab.settings import CoreSettings
from agentlab.store.agents import AgentStore
from agentlab.store.blobs import BlobStore
from agentlab.store.files import FileStore
from agentlab.store.orgs import OrgStore
from agentlab.store.runs import RunStore
from agentlab.store.table import Table
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.approvals import Approvals
from agentlab.workflow.executions import Executions
from agentlab.workflow.lifecycle import RunServices


class ApiSettings(CoreSettings):
    default_model_ref: str = "scripted"
    default_page_size: int = 50
    max_page_size: int = 200


@dataclass
class ApiDeps:
    settings: ApiSettings
    clients: AwsClients
    orgs: OrgStore
    agents: AgentStore
    runs: RunStore
    files: FileStore
    blobs: BlobStore
    executions: Executions
    approvals: Approvals

    @property
    def run_services(self) -> RunServices:
        return RunServices(self.runs, self.agents, self.files, self.executions, self.settings.default_model_ref)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ApiDeps:
        clients = AwsClients(settings)
        table = Table(lambda: clients.dynamodb, settings.table_name)
        return cls(
            settings=settings,
            clients=clients,
            orgs=OrgStore(table),
            agents=AgentStore(table),
            runs=RunStore(table),
            files=FileStore(table),
            blobs=BlobStore(clients, settings.bucket_name, expiry_s=settings.presign_expiry_s),
            executions=Executions(lambda: clients.stepfunctions, settings.agent_run_state_machine_arn),
            approvals=Approvals(RunStore(table), TranscriptStore(table), clients),
        )
