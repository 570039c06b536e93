"""`agentlab dev`: the platform on this machine with embedded defaults."""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import threading
from pathlib import Path

from agentlab.local.stack import LocalStack, LocalStackConfig, find_root


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agentlab dev", description="Run agentlab locally.")
    parser.add_argument("--host", default=os.environ.get("AGENTLAB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AGENTLAB_PORT", "8000")))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AGENTLAB_DATA_DIR", ".agentlab")))
    parser.add_argument("--snapshot-interval", type=float, default=3.0, help="seconds between snapshots")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from agentlab.local.models import choose_model

    model_ref, model_note, model_env = choose_model()
    config = LocalStackConfig(
        root=find_root(),
        data_dir=args.data_dir.resolve(),
        host=args.host,
        port=args.port,
        snapshot_interval_s=args.snapshot_interval,
        default_model_ref=model_ref,
        extra_env=model_env,
    )
    stack = LocalStack(config)
    try:
        stack.start()
    except OSError as exc:
        print(f"agentlab dev: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"agentlab local stack on {stack.url}  (API {stack.url}/v1, docs {stack.url}/v1/docs)", flush=True)
    print(f"model: {model_note}", flush=True)
    print(f"data: {config.data_dir} ({stack.restored_items} items restored)", flush=True)
    key_file = config.data_dir / "admin-key"
    if stack.admin_key_created:
        print(f"admin API key (shown once, saved to {key_file} with mode 0600): {stack.admin_key}", flush=True)
    else:
        print(f"admin API key: in {key_file}", flush=True)
    print(
        f"dashboard: {stack.url}/  sign in as a person after creating one, e.g. "
        "`agentlab users create --email you@example.com --role admin` (it prints the password once); "
        f"{stack.restored_users} users restored",
        flush=True,
    )
    print("ready", flush=True)
    stopped = threading.Event()

    def shutdown(signum: int, frame: object) -> None:
        stopped.set()

    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stack that stopped answering is waiting on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    stopped.wait()
    print("stopping: saving a snapshot", flush=True)
    stack.stop()
    return 0
