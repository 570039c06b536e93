"""What the step functions need, built once per process from settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentlab.aws import AwsClients
from agentlab.llm.pricing import PriceTable
from agentlab.settings import CoreSettings
from agentlab.store.agents import AgentStore
from agentlab.store.blobs import BlobStore
from agentlab.store.files import FileStore
from agentlab.store.runs import RunStore
from agentlab.store.table import Table
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.run_events import RunEvents


class StepSettings(CoreSettings):
    default_model_ref: str = "scripted"
    sandbox_backend: str = "local"
    sandbox_root: Path = Path(".agentlab/sandbox")
    # Tool output sent back to the model is capped; the full output stays in the step record.
    max_tool_output_chars: int = 8_000


@dataclass
class StepDeps:
    settings: StepSettings
    clients: AwsClients
    runs: RunStore
    agents: AgentStore
    files: FileStore
    transcript: TranscriptStore
    blobs: BlobStore
    models: Any
    sandbox: Any
    prices: PriceTable
    events: RunEvents

    @classmethod
    def from_settings(cls, settings: StepSettings) -> StepDeps:
        from agentlab.llm.settings import ProviderRegistry, ProviderSettings

        clients = AwsClients(settings)
        table = Table(lambda: clients.dynamodb, settings.table_name)
        blobs = BlobStore(clients, settings.bucket_name, expiry_s=settings.presign_expiry_s)
        return cls(
            settings=settings,
            clients=clients,
            runs=RunStore(table),
            agents=AgentStore(table),
            files=FileStore(table),
            transcript=TranscriptStore(table, blobs),
            blobs=blobs,
            models=ProviderRegistry(ProviderSettings()),
            sandbox=sandbox_backend(settings, table),
            prices=settings.price_table(),
            events=RunEvents(table, settings, clients),
        )


_backends: dict[tuple[str, str], Any] = {}
_backends_lock = threading.Lock()


def sandbox_backend(settings: StepSettings, table: Table | None = None) -> Any:
    """One backend per process and root: every step of a run reaches the same live session. The Fargate backend keeps
    which task serves a run in `table` (the step's own table; built from the settings when not given)."""
    key = (settings.sandbox_backend, str(settings.sandbox_root))
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            if settings.sandbox_backend == "fargate":
                from agentlab.sandbox.fargate import FargateSandboxBackend
                from agentlab.store.sandbox_sessions import SandboxSessionStore

                if table is None:
                    clients = AwsClients(settings)
                    table = Table(lambda: clients.dynamodb, settings.table_name)
                backend = FargateSandboxBackend.from_env(SandboxSessionStore(table))
            else:
                from agentlab.sandbox.local import LocalSandboxBackend

                backend = LocalSandboxBackend(settings.sandbox_root)
            _backends[key] = backend
        return backend
