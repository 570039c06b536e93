"""Everything the API needs, built once per process from settings and handed to the routes."""

from __future__ import annotations

from dataclasses import dataclass

from agentlab.aws import AwsClients
from agentlab.identity.cognito import Directory
from agentlab.identity.tokens import TokenVerifier, cognito_issuer
from agentlab.llm.pricing import require_priced
from agentlab.models import Caller, Run, RunCreate
from agentlab.models.agent import AgentSpec
from agentlab.models.repo import Repo, RepoRunCreate
from agentlab.settings import CoreSettings
from agentlab.store.agents import AgentStore
from agentlab.store.audit import AuditStore
from agentlab.store.blobs import BlobStore
from agentlab.store.files import FileStore
from agentlab.store.limits import Limits
from agentlab.store.members import MemberStore
from agentlab.store.orgs import OrgStore
from agentlab.store.runs import RunStore
from agentlab.store.schedules import ScheduleStore
from agentlab.store.table import Table
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.approvals import Approvals
from agentlab.workflow.executions import Executions
from agentlab.workflow.lifecycle import RunServices, create_repo_run, create_run
from agentlab.workflow.run_events import RunEvents


class ApiSettings(CoreSettings):
    default_model_ref: str = "scripted"
    default_page_size: int = 50
    max_page_size: int = 200

    # Sign-in (Cognito). Without a pool, people cannot sign in and only API keys work.
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    # Defaults derive from the region and pool (as in AWS); the local stack points them at its own moto endpoint.
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None

    # Dashboard origins allowed to call the API from a browser, comma-separated (e.g. https://d123.cloudfront.net).
    cors_origins: str = ""

    # Resource limits.
    rate_limit_requests_per_minute: int = 600
    rate_limit_runs_per_minute: int = 20
    rate_limit_logins_per_minute: int = 10
    quota_runs_per_day: int = 1_000
    quota_tokens_per_month: int = 50_000_000
    audit_retention_days: int = 400
    # The shortest interval between a schedule's fires.
    schedule_min_interval_s: int = 300

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


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
    members: MemberStore
    audit: AuditStore
    limits: Limits
    schedules: ScheduleStore
    directory: Directory | None = None
    verifier: TokenVerifier | None = None

    @property
    def run_services(self) -> RunServices:
        return RunServices(
            self.runs,
            self.agents,
            self.files,
            self.executions,
            self.settings.default_model_ref,
            self.settings.price_table(),
            RunEvents(self.runs.table, self.settings, self.clients),
        )

    def start_run(
        self,
        caller: Caller,
        body: RunCreate,
        idempotency_key: str | None = None,
        *,
        agent_version: int | None = None,
        schedule_id: str | None = None,
    ) -> tuple[Run, bool]:
        """Start a run within the org's quotas and count it. Returns (run, created); created is False on a replay."""
        self._check_run_quotas(caller)
        run, created = create_run(
            caller, body, self.run_services, idempotency_key, agent_version=agent_version, schedule_id=schedule_id
        )
        if created:
            self.limits.count_run(caller.org_id)
        return run, created

    def _check_run_quotas(self, caller: Caller) -> None:
        org = self.orgs.require_org(caller.org_id)
        quotas, settings = org.quotas, self.settings
        self.limits.check_run_quotas(
            caller.org_id,
            runs_per_day=settings.quota_runs_per_day if quotas.runs_per_day is None else quotas.runs_per_day,
            tokens_per_month=(
                settings.quota_tokens_per_month if quotas.tokens_per_month is None else quotas.tokens_per_month
            ),
        )

    def start_repo_run(
        self, caller: Caller, repo: Repo, body: RepoRunCreate, idempotency_key: str | None = None
    ) -> tuple[Run, bool]:
        """Start a repo run within the org's quotas (it counts as a run) and count it."""
        self._check_run_quotas(caller)
        run, created = create_repo_run(caller, repo, body, self.run_services, idempotency_key)
        if created:
            self.limits.count_run(caller.org_id)
        return run, created

    def check_cost_budget(self, agent: AgentSpec) -> None:
        """An agent that sets a cost budget names only models with a price."""
        if agent.limits.max_cost_usd is not None:
            require_priced(
                agent.model_refs(), self.settings.price_table(), self.settings.default_model_ref, budget="max_cost_usd"
            )

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ApiDeps:
        clients = AwsClients(settings)
        table = Table(lambda: clients.dynamodb, settings.table_name)
        directory = verifier = None
        if settings.cognito_user_pool_id and settings.cognito_client_id:
            directory = Directory(
                lambda: clients.cognito,
                user_pool_id=settings.cognito_user_pool_id,
                client_id=settings.cognito_client_id,
            )
            issuer = settings.cognito_issuer or cognito_issuer(settings.region, settings.cognito_user_pool_id)
            verifier = TokenVerifier(
                issuer=issuer,
                client_id=settings.cognito_client_id,
                jwks_url=settings.cognito_jwks_url or f"{issuer}/.well-known/jwks.json",
            )
        blobs = BlobStore(clients, settings.bucket_name, expiry_s=settings.presign_expiry_s)
        return cls(
            settings=settings,
            clients=clients,
            orgs=OrgStore(table),
            agents=AgentStore(table),
            runs=RunStore(table),
            files=FileStore(table),
            blobs=blobs,
            executions=Executions(
                lambda: clients.stepfunctions,
                settings.agent_run_state_machine_arn,
                {"repo_optimize": settings.repo_optimize_state_machine_arn},
            ),
            approvals=Approvals(RunStore(table), TranscriptStore(table, blobs), clients),
            members=MemberStore(table),
            audit=AuditStore(table, retention_days=settings.audit_retention_days),
            limits=Limits(table),
            schedules=ScheduleStore(table),
            directory=directory,
            verifier=verifier,
        )
