"""The dashboard: first-load JavaScript size (gzipped) and time until the runs page shows data on the local stack.

Size: the scripts index.html loads at first (its module script and modulepreload links) from frontend/dist, each
gzipped at level 6 as a CDN would; CSS is reported beside it. Target: JavaScript ≤ 250 KB gzipped.

Time: the local stack started as a user starts it (`agentlab dev` on a free port, new data dir) with RUNS finished
runs; Debian's chromium (headless, through Playwright) opens the runs page in a fresh browser context (empty cache)
and the page's own clock (performance.now(), from navigation start) is read when the first run row is in the DOM.
Two cases: a session already in the tab (a reload), and signing in with email and password (from the click).

Run from the repository root after `make frontend`: .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from dashboard_browser import CHROMIUM_ARGS, DIST, PASSWORD, chromium_path, create_member  # noqa: E402
from stack_process import LocalStackProcess, free_port  # noqa: E402

RUNS = 30
RELOAD_SAMPLES = 5
SIGN_IN_SAMPLES = 3
TARGET_JS_KB = 250
EMAIL = "bench@dashboard.test"
# Installed before the page's own scripts: notes the page clock when the first run row enters the DOM.
WATCH_FIRST_ROW = """
new MutationObserver((changes, observer) => {
  if (document.querySelector("tr[data-run-id]")) { window.__firstRow = performance.now(); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""


def first_load_sizes(dist: Path) -> dict[str, int]:
    html = (dist / "index.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html) + re.findall(
        r'rel="modulepreload"[^>]+href="([^"]+)"', html
    )
    styles = re.findall(r'rel="stylesheet"[^>]+href="([^"]+)"', html)

    def total(paths: list[str], compressed: bool) -> int:
        data = [(dist / path.lstrip("/")).read_bytes() for path in paths]
        return sum(len(gzip.compress(d, compresslevel=6)) if compressed else len(d) for d in data)

    return {
        "js_files": len(scripts),
        "js_bytes": total(scripts, False),
        "js_gzip_bytes": total(scripts, True),
        "css_gzip_bytes": total(styles, True),
        "html_gzip_bytes": len(gzip.compress(html.encode(), compresslevel=6)),
    }


def seed_runs(stack: LocalStackProcess) -> None:
    with stack.client() as client:
        create_member(client, EMAIL, "admin")
        agent = client.post("/v1/agents", json={"name": "bench", "models": {"reasoning": ["scripted"]}}).json()
        ids = []
        for number in range(RUNS):
            body = {
                "agent_id": agent["id"],
                "prompt": f"bench run {number}",
                "script": [{"tool": "finish", "answer": "ok"}],
            }
            ids.append(client.post("/v1/runs", json=body).json()["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = {client.get(f"/v1/runs/{run_id}").json()["status"] for run_id in ids}
            if statuses <= {"succeeded", "failed", "cancelled", "budget_exceeded"}:
                return
            time.sleep(0.5)


def measure(stack: LocalStackProcess) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    session = json.dumps({"accessToken": stack.admin_key, "refreshToken": None, "expiresAt": None, "kind": "api_key"})
    reload_ms: list[float] = []
    sign_in_ms: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            for _ in range(RELOAD_SAMPLES):
                context = browser.new_context()
                context.add_init_script(f"window.sessionStorage.setItem('agentlab.session', {json.dumps(session)})")
                context.add_init_script(WATCH_FIRST_ROW)
                page = context.new_page()
                page.goto(stack.url + "/")
                page.wait_for_selector("tr[data-run-id]", state="attached", timeout=30_000)
                reload_ms.append(page.evaluate("() => window.__firstRow"))
                context.close()
            for _ in range(SIGN_IN_SAMPLES):
                context = browser.new_context()
                context.add_init_script(WATCH_FIRST_ROW)
                page = context.new_page()
                page.goto(stack.url + "/")
                page.get_by_label("Email").fill(EMAIL)
                page.get_by_label("Password").fill(PASSWORD)
                page.evaluate(
                    "() => document.querySelector('form').addEventListener('submit', () => {"
                    " window.__clicked = performance.now() })"
                )
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector("tr[data-run-id]", state="attached", timeout=30_000)
                sign_in_ms.append(page.evaluate("() => window.__firstRow - window.__clicked"))
                context.close()
        finally:
            browser.close()
    return {"reload": reload_ms, "sign_in": sign_in_ms}


def main() -> None:
    if not (DIST / "index.html").is_file():
        print("frontend/dist is missing: run `make frontend` first")
        print(json.dumps({"skipped": "frontend not built"}))
        return
    sizes = first_load_sizes(DIST)
    js_kb = sizes["js_gzip_bytes"] / 1024
    verdict = "within" if js_kb <= TARGET_JS_KB else "OVER"
    print(
        f"first-load JavaScript: {sizes['js_files']} file(s), {sizes['js_bytes'] / 1024:.1f} KB, {js_kb:.1f} KB gzipped"
    )
    print(f"  target ≤ {TARGET_JS_KB} KB gzipped: {verdict}; CSS {sizes['css_gzip_bytes'] / 1024:.1f} KB gzipped")
    figures: dict[str, object] = {
        "js_gzip_kb": round(js_kb, 1),
        "css_gzip_kb": round(sizes["css_gzip_bytes"] / 1024, 1),
    }
    if chromium_path() is None:
        print("chromium is not installed: the time to data is not measured")
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStackProcess(Path(tmp) / "data", free_port())
        started = time.monotonic()
        stack.start()
        try:
            print(f"local stack ready in {time.monotonic() - started:.1f} s; seeding {RUNS} runs")
            seed_runs(stack)
            samples = measure(stack)
        finally:
            stack.stop()
    for name, label in (
        ("reload", "runs page with a session, navigation to first row"),
        ("sign_in", "sign-in click to first row"),
    ):
        values = samples[name]
        print(
            f"{label}: median {statistics.median(values):.0f} ms, min {min(values):.0f} ms, max {max(values):.0f} ms "
            f"({len(values)} cold loads)"
        )
        figures[f"{name}_to_data_ms_median"] = round(statistics.median(values))
        figures[f"{name}_to_data_ms_max"] = round(max(values))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
