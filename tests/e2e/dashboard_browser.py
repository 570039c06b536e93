"""Headless Chromium for the dashboard tests: Debian's `chromium` driven by Playwright, no browser download."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist"
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PASSWORD = "Dashboard-e2e-Pass-1!"


def chromium_path() -> str | None:
    """Debian's chromium; None when this machine has none."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None. As root (CI) a missing browser is a failure, not a skip."""
    if chromium_path() is not None:
        return None
    message = "chromium is not installed (apt-get install -y chromium, or `make test`, which installs it as root)"
    if os.geteuid() == 0:
        raise RuntimeError(message)
    return message


def create_member(client: httpx.Client, email: str, role: str) -> None:
    created = client.post("/v1/members", json={"email": email, "role": role, "password": PASSWORD})
    assert created.status_code == 201, created.text
