"""boto3 clients, built once and lazily: nothing talks to AWS at import time."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentlab.settings import CoreSettings


class AwsClients:
    """Lazily built boto3 clients for one settings object. Thread-safe; one instance per process is enough."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str, **kwargs: Any) -> Any:
        key = service + repr(sorted(kwargs.items()))
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    import boto3
                    from botocore.config import Config

                    config = Config(retries={"mode": "standard", "max_attempts": 5}, **kwargs.pop("config_kwargs", {}))
                    client = boto3.client(service, region_name=self.settings.region, config=config, **kwargs)
                    self._clients[key] = client
        return client

    @property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def s3_presigner(self) -> Any:
        """An S3 client used only to sign URLs; it signs for the public endpoint when one is configured."""
        endpoint = self.settings.s3_presign_endpoint_url
        if not endpoint:
            return self.s3
        return self._client(
            "s3",
            endpoint_url=endpoint,
            config_kwargs={"s3": {"addressing_style": "path"}, "signature_version": "s3v4"},
        )

    @property
    def stepfunctions(self) -> Any:
        return self._client("stepfunctions")

    @property
    def cognito(self) -> Any:
        return self._client("cognito-idp")

    @property
    def scheduler(self) -> Any:
        return self._client("scheduler")

    @property
    def sqs(self) -> Any:
        return self._client("sqs")

    @property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")
