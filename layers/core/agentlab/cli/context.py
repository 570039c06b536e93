"""What a command gets to work with: its printer, and the config and API client, both resolved on first use."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentlab.cli.client import ApiClient, ClientFactory
from agentlab.cli.config import CliConfig, CliEnvironment, resolve_config
from agentlab.cli.output import Printer


@dataclass
class CommandContext:
    printer: Printer
    environment: CliEnvironment
    home: Path
    cwd: Path
    url_flag: str | None
    api_key_flag: str | None
    client_factory: ClientFactory
    sleep: Callable[[float], None]
    _config: CliConfig | None = field(default=None, init=False)
    _api: ApiClient | None = field(default=None, init=False)

    @property
    def config(self) -> CliConfig:
        if self._config is None:
            self._config = resolve_config(
                url_flag=self.url_flag,
                api_key_flag=self.api_key_flag,
                environment=self.environment,
                home=self.home,
                cwd=self.cwd,
            )
        return self._config

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(self.client_factory(self.config), self.config)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


CommandHandler = Callable[[argparse.Namespace, CommandContext], int]
