"""The local stack driven over HTTP as a user drives it."""

from __future__ import annotations

import signal
import stat
import time

import httpx
import pytest
from run_checks import wait_for
from stack_process import LocalStackProcess

pytestmark = pytest.mark.e2e
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


def upload(client: httpx.Client, name: str, content_type: str, data: bytes) -> httpx.Response:
    created = client.post("/v1/files", json={"name": name, "content_type": content_type, "size": len(data)})
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    posted = httpx.post(upload["url"], data=upload["fields"], files={"file": (name, data)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    return client.post(f"/v1/files/{created.json()['file']['id']}/complete")


def test_first_start_creates_an_admin_key_file_readable_only_by_its_owner(local_stack: LocalStackProcess) -> None:
    key_file = local_stack.data_dir / "admin-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert local_stack.admin_key.startswith("al_")
    assert any(local_stack.admin_key in line for line in local_stack.output)
    assert httpx.get(f"{local_stack.url}/v1/runs").status_code == 401
    assert httpx.get(f"{local_stack.url}/v1/health").json()["status"] == "ok"


def test_agents_runs_paging_idempotency_and_cancel(local_stack: LocalStackProcess) -> None:
    with local_stack.client() as client:
        agent = client.post("/v1/agents", json={"name": "e2e", "models": {"reasoning": ["scripted"]}}).json()
        body = {"agent_id": agent["id"], "prompt": "quick", "script": [{"tool": "finish", "answer": "ok"}]}
        first = client.post("/v1/runs", json=body, headers={"Idempotency-Key": "e2e-1"})
        again = client.post("/v1/runs", json=body, headers={"Idempotency-Key": "e2e-1"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        assert (
            client.post("/v1/runs", json={**body, "prompt": "other"}, headers={"Idempotency-Key": "e2e-1"}).status_code
            == 409
        )
        for _ in range(4):
            assert client.post("/v1/runs", json=body).status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            page = client.get("/v1/runs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [r["id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen, reverse=True)
        created = client.post(
            "/v1/runs",
            json={
                **body,
                "script": [
                    {"tool": "python", "code": "import time\ntime.sleep(5)"},
                    {"tool": "finish", "answer": "late"},
                ],
            },
        )
        assert created.status_code == 201, created.text
        slow = created.json()
        wait_for(client, slow["id"], {"running"})
        cancelled = client.post(f"/v1/runs/{slow['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        time.sleep(6)
        assert client.get(f"/v1/runs/{slow['id']}").json()["status"] == "cancelled"


def test_uploads_are_sniffed_and_the_csv_demo_charts_them(local_stack: LocalStackProcess) -> None:
    with local_stack.client() as client:
        rejected = upload(client, "report.png", "image/png", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
        assert rejected.status_code == 422 and rejected.json()["error"]["code"] == "unsupported_file_type"
        assert "PDF" in rejected.json()["error"]["message"]
        empty_exe = upload(client, "tool.txt", "text/plain", b"\x7fELF\x02\x01\x01" + b"\x00" * 64)
        assert empty_exe.status_code == 422
        accepted = upload(client, "sales.csv", "text/csv", b"month,sales\nJan,10\nFeb,14\nMar,9\n")
        assert accepted.status_code == 200 and accepted.json()["status"] == "ready"
        agent = client.get("/v1/agents", params={"name": "demo-analyst"}).json()["items"][0]
        run = client.post(
            "/v1/runs",
            json={
                "agent_id": agent["id"],
                "prompt": "Summarise this CSV and chart it",
                "file_ids": [accepted.json()["id"]],
            },
        ).json()
        final = wait_for(client, run["id"], TERMINAL)
        assert final["status"] == "succeeded", final
        assert "3 rows" in final["result"]
        artifacts = client.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]
        chart = next(a for a in artifacts if a["name"] == "chart.png")
        assert httpx.get(chart["url"]).content.startswith(b"\x89PNG")


def test_sine_demo_and_live_events(local_stack: LocalStackProcess) -> None:
    with local_stack.client() as client:
        agent = client.get("/v1/agents", params={"name": "demo-analyst"}).json()["items"][0]
        run = client.post(
            "/v1/runs", json={"agent_id": agent["id"], "prompt": "Plot a sine wave and save it as sine.png"}
        ).json()
        events: list[str] = []
        with client.stream("GET", f"/v1/runs/{run['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
                if events and events[-1] == "end":
                    break
        assert events.count("step") >= 5 and events[-1] == "end"
        final = client.get(f"/v1/runs/{run['id']}").json()
        assert final["status"] == "succeeded"
        names = [a["name"] for a in client.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]]
        assert names == ["sine.png"]


def test_data_survives_a_killed_process(local_stack: LocalStackProcess) -> None:
    with local_stack.client() as client:
        agent = client.post("/v1/agents", json={"name": "survivor", "models": {"reasoning": ["scripted"]}}).json()
        run = client.post(
            "/v1/runs", json={"agent_id": agent["id"], "prompt": "x", "script": [{"tool": "finish", "answer": "kept"}]}
        ).json()
        wait_for(client, run["id"], TERMINAL)
    key = local_stack.admin_key
    time.sleep(2.5)  # longer than the snapshot interval: no clean shutdown is needed
    local_stack.stop(signal.SIGKILL)
    local_stack.start()
    assert local_stack.admin_key == key
    with local_stack.client() as client:
        assert client.get(f"/v1/agents/{agent['id']}").json()["name"] == "survivor"
        restored = client.get(f"/v1/runs/{run['id']}").json()
        assert restored["status"] == "succeeded" and restored["result"] == "kept"
        steps = client.get(f"/v1/runs/{run['id']}/steps").json()["items"]
        assert [s["type"] for s in steps][-1] == "evaluate"
