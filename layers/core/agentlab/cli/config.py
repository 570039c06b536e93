"""Where the CLI finds its URL and API key: flags, then environment, then the config file.

The local stack writes its admin key to `.agentlab/admin-key` in the directory it runs from, so a
keyless call against the local default URL picks that key up and `agentlab` works right after `make dev`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentlab.cli.errors import UsageError

DEFAULT_URL = "http://127.0.0.1:8000"
LOCAL_URLS = frozenset({DEFAULT_URL, "http://localhost:8000"})
LOCAL_ADMIN_KEY_PATH = Path(".agentlab") / "admin-key"
CONFIG_FILE_NAME = "config.json"

KeySource = Literal["--api-key", "AGENTLAB_API_KEY", "config file", "local admin key"]


class CliEnvironment(BaseSettings):
    """The environment variables the CLI honours."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    agentlab_url: str | None = None
    agentlab_api_key: SecretStr | None = None
    xdg_config_home: str | None = None


class CliConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    api_key: SecretStr | None = None
    key_source: KeySource | None = None
    config_path: Path


def config_file_path(environment: CliEnvironment, home: Path) -> Path:
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    xdg = environment.xdg_config_home
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "agentlab" / CONFIG_FILE_NAME


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"config file {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(content, dict):
        raise UsageError(f"config file {path} must hold a JSON object")
    return content


def write_config_file(path: Path, content: dict[str, Any]) -> None:
    """Writes the file readable by its owner only: it holds an API key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2)
        handle.write("\n")
    # A pre-existing temp file keeps its old mode through O_CREAT, so set it explicitly.
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"invalid agentlab URL {url!r}: it must start with http:// or https://")
    return url


def resolve_config(
    *,
    url_flag: str | None,
    api_key_flag: str | None,
    environment: CliEnvironment,
    home: Path,
    cwd: Path,
) -> CliConfig:
    path = config_file_path(environment, home)
    file_content = read_config_file(path)
    url = normalize_url(url_flag or environment.agentlab_url or _file_str(file_content, "url", path) or DEFAULT_URL)
    api_key, source = _resolve_api_key(api_key_flag, environment, file_content, path)
    if api_key is None and url in LOCAL_URLS:
        api_key, source = _read_local_admin_key(cwd), "local admin key"
    return CliConfig(
        url=url,
        api_key=SecretStr(api_key) if api_key else None,
        key_source=source if api_key else None,
        config_path=path,
    )


def _resolve_api_key(
    flag: str | None, environment: CliEnvironment, file_content: dict[str, Any], path: Path
) -> tuple[str | None, KeySource | None]:
    if flag:
        return flag, "--api-key"
    if environment.agentlab_api_key is not None:
        return environment.agentlab_api_key.get_secret_value(), "AGENTLAB_API_KEY"
    from_file = _file_str(file_content, "api_key", path)
    if from_file:
        return from_file, "config file"
    return None, None


def _file_str(content: dict[str, Any], key: str, path: Path) -> str | None:
    value = content.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"config file {path}: {key!r} must be a string")
    return value or None


def _read_local_admin_key(cwd: Path) -> str | None:
    try:
        return (cwd / LOCAL_ADMIN_KEY_PATH).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
