"""The Lambda functions of the platform, found in `functions/<name>/handler.py`, and how ASL files refer to them.

The same naming rule serves the CDK stack: the function in folder `think` is substituted for `${ThinkFunctionArn}`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def placeholder_for(function_name: str) -> str:
    return "".join(part.capitalize() for part in function_name.split("_")) + "FunctionArn"


def placeholders_in(definition: str) -> set[str]:
    return set(_PLACEHOLDER.findall(definition))


def substitute(definition: str, values: dict[str, str]) -> str:
    missing = placeholders_in(definition) - values.keys()
    if missing:
        raise ValueError(f"no substitution for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], definition)


def discover(functions_dir: Path) -> dict[str, Path]:
    """Function name -> handler file, for every folder of `functions/` that has a handler.py."""
    return {p.parent.name: p for p in sorted(functions_dir.glob("*/handler.py"))}


class HandlerRegistry:
    """Loads each handler module once, by path, under a private module name (the folders are not a package)."""

    def __init__(self, functions_dir: Path) -> None:
        self.paths = discover(functions_dir)
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def handler(self, function_name: str) -> Handler:
        with self._lock:
            loaded = self._handlers.get(function_name)
            if loaded is None:
                path = self.paths.get(function_name)
                if path is None:
                    raise KeyError(f"no function named {function_name!r} in functions/")
                module_name = f"agentlab_functions.{function_name}"
                spec = importlib.util.spec_from_file_location(module_name, path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
                loaded = self._handlers[function_name] = module.handler
            return loaded


class LambdaContext:
    """What a handler sees as its context object when run locally."""

    def __init__(self, function_name: str, request_id: str, timeout_s: int = 900) -> None:
        import time

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))
