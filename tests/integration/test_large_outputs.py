"""Outputs never sink a run: whatever a cell prints or a model writes, no item exceeds DynamoDB's 400 KB (moto enforces
the limit). Steps, messages and results keep a bounded preview with a marker, the full text goes to S3, and the model
sees a bounded head and tail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apiclient import EventClient
from fake_models import FakeChatServer, chat_reply, chat_server
from moto_platform import Platform
from run_checks import wait_for

from agentlab.workflow.outputs import PREVIEW_CHARS

pytestmark = pytest.mark.timeout(240)

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
MODEL_CHARS = 8_000  # StepSettings.max_tool_output_chars


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


def full_text(platform: Platform, ref: dict[str, Any]) -> str:
    body = platform.clients.s3.get_object(Bucket=platform.settings.bucket_name, Key=ref["key"])["Body"].read()
    return body.decode()


def transcript(platform: Platform, org_id: str, run_id: str) -> list[dict[str, Any]]:
    from agentlab.store.transcript import TranscriptStore

    return TranscriptStore(platform.table).messages(org_id, run_id)


@pytest.fixture
def scripted_agent(api: EventClient) -> str:
    response = api.post(
        "/v1/agents", {"name": "big-output", "models": {"reasoning": ["scripted"]}, "limits": {"cell_timeout_s": 60}}
    )
    assert response.status == 201, response.text
    return str(response.json()["id"])


def run_script(api: EventClient, agent_id: str, code: str) -> dict[str, Any]:
    script = [{"tool": "python", "code": code}, {"tool": "finish", "answer": "printed it"}]
    created = api.post("/v1/runs", {"agent_id": agent_id, "prompt": "print a lot", "script": script})
    assert created.status == 201, created.text
    return wait_for(api, created.json()["id"], TERMINAL, timeout_s=200)


def test_a_cell_printing_600_kb_keeps_a_preview_and_the_full_output_in_s3(
    platform: Platform, api: EventClient, org: tuple[str, str], scripted_agent: str
) -> None:
    # Given a cell whose output alone is larger than a DynamoDB item may be
    final = run_script(api, scripted_agent, "print('begin ' + 'x' * 600_000 + ' end')")
    # Then the run succeeded and the step is recorded with a bounded preview and the whole output in S3
    assert final["status"] == "succeeded", final
    execute = next(s for s in steps_of(api, final["id"]) if s["type"] == "execute")
    stdout = execute["detail"]["stdout"]
    assert len(stdout) <= PREVIEW_CHARS and "characters omitted" in stdout
    assert stdout.startswith("begin x") and stdout.rstrip().endswith("x end")
    ref = execute["full_output"]["stdout"]
    assert ref["chars"] == len("begin ") + 600_000 + len(" end\n")
    assert full_text(platform, ref) == "begin " + "x" * 600_000 + " end\n"
    # And the model saw a bounded head and tail with the marker
    answer = transcript(platform, org[0], final["id"])[-2]["tool_results"][0]["content"]
    assert len(answer) < MODEL_CHARS + 200 and "characters omitted" in answer and answer.rstrip().endswith("x end")


def test_printing_a_60000_row_dataframe_succeeds(api: EventClient, scripted_agent: str) -> None:
    code = (
        "import pandas as pd\n"
        "pd.set_option('display.max_rows', None)\n"
        "df = pd.DataFrame({'row': range(60_000), 'value': [i * 0.5 for i in range(60_000)]})\n"
        "print(df)\n"
    )
    final = run_script(api, scripted_agent, code)
    assert final["status"] == "succeeded", final
    execute = next(s for s in steps_of(api, final["id"]) if s["type"] == "execute")
    # About 1.3 MB of text: the sandbox keeps its first megabyte, the step a preview of that
    assert execute["detail"]["exit_code"] == 0 and execute["detail"]["limit"] == "output"
    assert execute["detail"]["stdout"].startswith("         row    value\n0          0      0.0")
    assert "characters omitted" in execute["detail"]["stdout"]
    assert execute["full_output"]["stdout"]["chars"] > 1_000_000


def test_100_mb_of_output_is_capped_by_the_sandbox_and_recorded(
    platform: Platform, api: EventClient, scripted_agent: str
) -> None:
    code = "import sys\nfor _ in range(100):\n    sys.stdout.write('y' * 1_000_000)\nprint('done')\n"
    final = run_script(api, scripted_agent, code)
    assert final["status"] == "succeeded", final
    execute = next(s for s in steps_of(api, final["id"]) if s["type"] == "execute")
    assert execute["detail"]["limit"] == "output"
    kept = full_text(platform, execute["full_output"]["stdout"])
    assert kept.startswith("y" * 1000) and "bytes omitted" in kept
    assert len(kept.encode()) < 1_100_000


def test_a_200_kb_cell_and_a_500_kb_answer_from_a_model(
    platform: Platform, api: EventClient, org: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with chat_server(monkeypatch) as server:
        _run_big_cell_and_answer(platform, api, org, server)


def _run_big_cell_and_answer(
    platform: Platform, api: EventClient, org: tuple[str, str], server: FakeChatServer
) -> None:
    # Given a model that writes a 200 KB cell (the critic only warns for this agent) and then a 500 KB answer
    agent = api.post(
        "/v1/agents",
        {"name": "verbose", "models": {"reasoning": ["openai:verbose"]}, "critic": {"mode": "warn"}},
    ).json()
    code = "".join(f"value_{n} = {n}\n" for n in range(15_000)) + "print(value_14999)\n"
    assert len(code) > 200_000
    answer = "A" * 250_000 + "B" * 250_000
    server.script(
        "verbose",
        chat_reply(tool_calls=[("python", {"code": code})]),
        chat_reply(tool_calls=[("finish", {"answer": answer})]),
    )
    created = api.post("/v1/runs", {"agent_id": agent["id"], "prompt": "be verbose"}).json()
    final = wait_for(api, created["id"], TERMINAL, timeout_s=200)
    # Then the run succeeded; the cell ran in full; every record holds a preview and points at the whole text
    assert final["status"] == "succeeded", final
    steps = steps_of(api, final["id"])
    think = steps[0]
    assert think["type"] == "think" and "characters omitted" in think["detail"]["tool_calls"][0]["arguments"]["code"]
    calls = json.loads(full_text(platform, think["full_output"]["tool_calls"]))
    assert calls[0]["arguments"]["code"] == code
    critique = next(s for s in steps if s["type"] == "critique")
    assert critique["detail"]["mode"] == "warn" and critique["detail"]["verdict"] == "block"
    execute = next(s for s in steps if s["type"] == "execute")
    assert execute["detail"]["stdout"] == "14999\n"
    assert full_text(platform, execute["full_output"]["code"]) == code
    assert len(final["result"]) <= PREVIEW_CHARS and final["result"].startswith("AAA") and final["result"].endswith("B")
    assert full_text(platform, final["result_full"]) == answer
    evaluate = next(s for s in steps if s["type"] == "evaluate")
    assert full_text(platform, evaluate["full_output"]["answer"]) == answer
    # The transcript keeps the model's turns whole: the big ones live in S3 and come back when read
    from agentlab.store.blobs import BlobStore
    from agentlab.store.transcript import TranscriptStore

    blobs = BlobStore(platform.clients, platform.settings.bucket_name)
    messages = TranscriptStore(platform.table, blobs).messages(org[0], final["id"])
    assert messages[1]["tool_calls"][0]["arguments"]["code"] == code
    stored = TranscriptStore(platform.table).messages(org[0], final["id"])
    assert "body_key" in stored[1]
    # And the model, asked again after the cell, got its own cell back whole
    second = server.requests_for("verbose")[1]
    echoed = next(m for m in second["messages"] if m["role"] == "assistant")
    assert json.loads(echoed["tool_calls"][0]["function"]["arguments"])["code"] == code
