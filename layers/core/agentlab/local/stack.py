"""The whole platform in one process: moto for AWS, the real handlers and ASL files, the gateway on one port."""

from __future__ import annotations

import importlib.util
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentlab.aws import AwsClients
from agentlab.local.aws import ACCOUNT_ID, MOTO_CONFIG, create_resources, install_lambda_dispatch, put_browser_cors
from agentlab.local.cognito import ID_STRATEGY_ENV, ensure_user_pool, restore_users, save_users
from agentlab.local.functions import Handler, HandlerRegistry, LambdaContext
from agentlab.local.gateway import COGNITO_PREFIX, S3_PREFIX, LocalGateway
from agentlab.local.snapshot import Snapshotter
from agentlab.settings import CoreSettings
from agentlab.store.orgs import OrgStore
from agentlab.store.runs import RunStore
from agentlab.store.table import Table, deserialize

DEFAULT_ORG = "default"
# `npm run dev` in frontend/ (Vite's default port) proxies the API to the stack but uploads straight to its storage.
DEV_SERVER_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")


def storage_host_for(host: str) -> str:
    """Another name for the same machine than the dashboard's, so that storage is another origin, as S3 is in AWS."""
    return "127.0.0.1" if host == "localhost" else "localhost"


def find_root() -> Path:
    """The project folder holding functions/ and statemachines/ (the editable install lives inside it)."""
    for candidate in [Path.cwd(), *Path(__file__).resolve().parents]:
        if (candidate / "statemachines").is_dir() and (candidate / "functions").is_dir():
            return candidate
    raise RuntimeError("cannot find the agentlab project folder (with functions/ and statemachines/)")


@dataclass
class LocalStackConfig:
    root: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    snapshot_interval_s: float = 3.0
    default_model_ref: str = "scripted"
    extra_env: dict[str, str] = field(default_factory=dict)


API_ENVIRONMENTS = 8


class ApiEnvironments:
    """Execution environments of the API function, each handling one request at a time, as in Lambda: each is its
    own load of the handler module, so the resolver's per-request state (the caller, the current event) and the
    module's cold-start globals are never shared between concurrent requests. A request takes an idle environment,
    or a new one while fewer than `limit` exist, or waits for one to come back; a slow request therefore holds up
    only its own environment."""

    def __init__(self, registry: HandlerRegistry, limit: int = API_ENVIRONMENTS) -> None:
        self.registry = registry
        self.limit = limit
        self._idle: list[Handler] = []
        self._created = 0
        self._available = threading.Condition()

    @property
    def created(self) -> int:
        return self._created

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        handler = self._acquire()
        try:
            return handler(event, context)
        finally:
            with self._available:
                self._idle.append(handler)
                self._available.notify()

    def _acquire(self) -> Handler:
        with self._available:
            while not self._idle and self._created >= self.limit:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._created += 1
            number = self._created
        try:
            return self._load(number)
        except BaseException:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise

    def _load(self, number: int) -> Handler:
        if number == 1:
            return self.registry.handler("api")
        path = self.registry.paths["api"]
        spec = importlib.util.spec_from_file_location(f"agentlab_functions.api_environment_{number}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Handler = module.handler
        return handler


class LocalStack:
    def __init__(self, config: LocalStackConfig) -> None:
        self.config = config
        self.registry = HandlerRegistry(config.root / "functions")
        self._mock: Any = None
        self._undo_dispatch: Any = None
        self.gateway: LocalGateway | None = None
        self.snapshotter: Snapshotter | None = None
        self.admin_key: str | None = None
        self.admin_key_created = False
        self.state_machines: dict[str, str] = {}
        self.restored_items = 0
        self._reaper_stop = threading.Event()
        self._api_environments = ApiEnvironments(self.registry)
        self._sandbox: Any = None
        self._ticker: Any = None
        self._webhook_poller: Any = None
        self.user_pool_id = ""
        self.user_pool_client_id = ""
        self.region = "us-east-1"
        self.restored_users = 0
        self._clients: AwsClients | None = None

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return f"http://{self.config.host}:{self.gateway.port}"

    @property
    def storage_url(self) -> str:
        """Where presigned URLs point: moto's S3 on this port, under another host name than the dashboard's."""
        assert self.gateway is not None and self.gateway.storage_origin is not None
        return self.gateway.storage_origin + S3_PREFIX

    def _environment(self) -> dict[str, str]:
        return {
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AGENTLAB_ENVIRONMENT": "local",
            "AGENTLAB_TABLE_NAME": "agentlab-local",
            "AGENTLAB_BUCKET_NAME": "agentlab-local-data",
            "AGENTLAB_S3_PRESIGN_ENDPOINT_URL": self.storage_url,
            "AGENTLAB_DEFAULT_MODEL_REF": self.config.default_model_ref,
            "AGENTLAB_SANDBOX_ROOT": str(self.config.data_dir / "sandbox"),
            "POWERTOOLS_SERVICE_NAME": "agentlab",
            "POWERTOOLS_METRICS_NAMESPACE": "agentlab",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            **self.config.extra_env,
        }

    def start(self) -> None:
        from moto import mock_aws
        from moto.server import create_backend_app

        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data_dir, 0o700)
        limits = CoreSettings()
        self.gateway = LocalGateway(
            host=config.host,
            port=config.port,
            api_handler=self.call_api,
            s3_app=create_backend_app("s3"),
            frontend_dir=config.root / "frontend" / "dist",
            max_api_body=limits.max_body_bytes * 2,
            max_upload_body=limits.max_upload_bytes + 65_536,
            event_stream=self._event_stream,
            cognito_app=create_backend_app("cognito-idp"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
            storage_host=storage_host_for(config.host),
            bucket_cors=self._bucket_cors,
        )
        os.environ.update(self._environment())
        os.environ.update(ID_STRATEGY_ENV)
        self._mock = mock_aws(config=MOTO_CONFIG)  # type: ignore[call-overload]
        self._mock.start()
        self._undo_dispatch = install_lambda_dispatch(self.registry)
        settings = CoreSettings()
        clients = self._clients = AwsClients(settings)
        self.state_machines = create_resources(
            clients,
            table_name=settings.table_name,
            bucket_name=settings.bucket_name,
            region=settings.region,
            statemachines_dir=config.root / "statemachines",
            registry=self.registry,
        )
        put_browser_cors(clients, bucket_name=settings.bucket_name, origins=[self.url, *DEV_SERVER_ORIGINS])
        os.environ["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"] = self.state_machines["agent_run"]
        os.environ["AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN"] = self.state_machines["repo_optimize"]
        self._start_webhook_poller(clients)
        self._start_identity(clients, settings.region)
        self.snapshotter = Snapshotter(
            clients,
            table_name=settings.table_name,
            bucket_name=settings.bucket_name,
            directory=config.data_dir,
            on_save=self._save_users,
        )
        self.restored_items = self.snapshotter.restore()
        self.restored_users = restore_users(
            self._users_file, clients.cognito, region=settings.region, account_id=ACCOUNT_ID, pool_id=self.user_pool_id
        )
        table = Table(lambda: clients.dynamodb, settings.table_name)
        self._resume_interrupted_runs(clients, table, settings)
        self._bootstrap(OrgStore(table))
        self._seed()
        self.snapshotter.save()
        self.snapshotter.start(config.snapshot_interval_s)
        self._start_sandbox_reaper()
        self._start_schedule_ticker(table)
        self.gateway.start()

    def _start_sandbox_reaper(self, interval_s: float = 30.0) -> None:
        """Sandbox sessions of runs that went quiet (a run waiting for approval for hours, say) are ended."""
        from agentlab.workflow.deps import StepSettings, sandbox_backend

        backend = self._sandbox = sandbox_backend(StepSettings())

        def loop() -> None:
            while not self._reaper_stop.wait(interval_s):
                backend.reap_idle()

        threading.Thread(target=loop, name="sandbox-reaper", daemon=True).start()

    def _start_schedule_ticker(self, table: Table) -> None:
        """moto's Scheduler never fires: the ticker fires the schedule records through the same trigger handler."""
        from agentlab.ids import new_ulid
        from agentlab.schedules.ticker import start_ticker
        from agentlab.store.schedules import ScheduleStore

        def invoke(payload: dict[str, Any]) -> Any:
            context = LambdaContext("schedule_trigger", new_ulid())
            return self.registry.handler("schedule_trigger")(payload, context)

        self._ticker = start_ticker(ScheduleStore(table), invoke)

    def _start_webhook_poller(self, clients: AwsClients) -> None:
        """moto's SQS calls no Lambda: a poller hands the webhook queue's messages to the same delivery handler."""
        from agentlab.webhooks.local_poller import LocalQueuePoller, create_webhook_queues

        queues = create_webhook_queues(clients)
        os.environ.update(queues)
        handler = self.registry.handler("webhook_delivery")
        self._webhook_poller = LocalQueuePoller(
            clients, queues["AGENTLAB_WEBHOOK_QUEUE_URL"], handler, lambda rid: LambdaContext("webhook_delivery", rid)
        )
        self._webhook_poller.start()

    def stop(self) -> None:
        self._reaper_stop.set()
        if self._webhook_poller is not None:
            self._webhook_poller.stop()
        if self._ticker is not None:
            self._ticker.stop()
        if self.gateway:
            self.gateway.stop()
        if self.snapshotter:
            self.snapshotter.stop()
        if self._sandbox is not None:
            self._sandbox.close()
        if self._undo_dispatch:
            self._undo_dispatch()
        if self._mock:
            self._mock.stop()

    def _resume_interrupted_runs(self, clients: AwsClients, table: Table, settings: CoreSettings) -> None:
        """Executions do not survive a restart: each run they were driving gets a new execution that goes on from its
        last completed step (agentlab/workflow/prepare.py::resume_run). A run that cannot be resumed is ended with
        the reason, never left open."""
        from agentlab.store.blobs import BlobStore
        from agentlab.store.transcript import TranscriptStore
        from agentlab.workflow.executions import Executions
        from agentlab.workflow.prepare import resume_run

        runs = RunStore(table)
        transcript = TranscriptStore(table, BlobStore(clients, settings.bucket_name))
        executions = Executions(
            lambda: clients.stepfunctions,
            self.state_machines["agent_run"],
            {"repo_optimize": self.state_machines["repo_optimize"]},
        )
        paginator = clients.dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=settings.table_name,
            FilterExpression="#t = :run AND #s IN (:q, :r, :w)",
            ExpressionAttributeNames={"#t": "entity", "#s": "status"},
            ExpressionAttributeValues={
                ":run": {"S": "run"},
                ":q": {"S": "queued"},
                ":r": {"S": "running"},
                ":w": {"S": "waiting_approval"},
            },
        )
        active = [deserialize(raw) for page in pages for raw in page.get("Items", [])]
        for item in active:
            try:
                resume_run(runs, transcript, executions, runs.get(item["org_id"], item["id"]))
            except Exception as exc:
                print(f"run {item['id']} could not be resumed: {type(exc).__name__}: {exc}", flush=True)
                runs.transition(
                    item["org_id"],
                    item["id"],
                    "failed",
                    error={
                        "code": "interrupted",
                        "message": f"the local stack stopped while this run was active and it could not be resumed "
                        f"({type(exc).__name__})",
                    },
                )

    @property
    def _users_file(self) -> Path:
        return self.config.data_dir / "users.json"

    def _start_identity(self, clients: AwsClients, region: str) -> None:
        """The user pool (as the CDK stack makes it) and the settings that point the API at it."""
        assert self.gateway is not None
        self.user_pool_id, self.user_pool_client_id = ensure_user_pool(clients.cognito)
        self.region = region
        os.environ.update(
            {
                "AGENTLAB_COGNITO_USER_POOL_ID": self.user_pool_id,
                "AGENTLAB_COGNITO_CLIENT_ID": self.user_pool_client_id,
                # The same verification as in AWS, with the key set fetched over HTTP from moto's endpoint.
                "AGENTLAB_COGNITO_JWKS_URL": f"{self.url}{COGNITO_PREFIX}/{self.user_pool_id}/.well-known/jwks.json",
                "AGENTLAB_CORS_ORIGINS": self.url,
            }
        )
        self.gateway.runtime_config.update(
            {
                "environment": "local",
                "region": region,
                "userPoolId": self.user_pool_id,
                "userPoolClientId": self.user_pool_client_id,
            }
        )

    def _save_users(self) -> None:
        save_users(self._users_file, region=self.region, account_id=ACCOUNT_ID, pool_id=self.user_pool_id)

    def _bootstrap(self, orgs: OrgStore) -> None:
        """The org `default` and an admin key; only the key's hash is stored, the key itself goes to a 0600 file."""
        if orgs.get_org(DEFAULT_ORG) is None:
            orgs.create_org("Default", org_id=DEFAULT_ORG)
        key_file = self.config.data_dir / "admin-key"
        if key_file.exists():
            existing = key_file.read_text().strip()
            record = orgs.find_api_key(existing)
            if record is not None and not record.revoked:
                self.admin_key = existing
                return
        _, key = orgs.create_api_key(DEFAULT_ORG, name="local admin", role="admin", platform_admin=True)
        key_file.write_text(key + "\n")
        os.chmod(key_file, stat.S_IRUSR | stat.S_IWUSR)
        self.admin_key, self.admin_key_created = key, True

    def _seed(self) -> None:
        """Platform-provided content for a new local stack (e.g. demo agents), through the seed function if any."""
        if "seed" in self.registry.paths:
            self.registry.handler("seed")({"org_id": DEFAULT_ORG}, LambdaContext("agentlab-seed", "seed"))

    def call_api(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Each request in an idle execution environment of the API function, as Lambda runs concurrent requests."""
        return self._api_environments.invoke(event, context)

    def _bucket_cors(self, bucket: str) -> list[dict[str, Any]]:
        """The bucket's CORS rules, read as S3 keeps them: a rule changed through the S3 API applies at once."""
        assert self._clients is not None
        s3 = self._clients.s3
        try:
            return list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
        except s3.exceptions.ClientError:
            return []

    def _event_stream(self, target: str, headers: dict[str, str]) -> Any:
        from agentlab.local.events import stream_for

        return stream_for(target, headers, self.call_api)
