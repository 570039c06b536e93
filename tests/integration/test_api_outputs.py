"""Full outputs through the API: a step or result that keeps a preview in its record comes back with a presigned URL
that downloads the whole text; the URL is made per request and never stored; another org sees nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, wait_for

from agentlab.models import OutputRef
from agentlab.store.blobs import BlobStore
from agentlab.store.runs import RunStore
from agentlab.workflow.outputs import Outputs

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
MARKER = "characters omitted ...]"
# Longer than a preview, so the workflow's Outputs writes the full text to S3 and keeps a head and a tail.
BIG_STDOUT = "".join(f"line {n:06d}: {'x' * 40}\n" for n in range(12_000))


@pytest.fixture
def agent(api: EventClient) -> str:
    response = api.post("/v1/agents", {"name": "scripted-agent", "models": {"reasoning": ["scripted"]}})
    assert response.status == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def finished_run(api: EventClient, agent: str) -> dict[str, Any]:
    """A run that has ended, so the workflow adds nothing while a test appends its own records."""
    response = api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": [{"tool": "finish", "answer": "ok"}]})
    assert response.status == 201, response.text
    return wait_for(api, response.json()["id"], TERMINAL)


def blobs_of(platform: Platform) -> BlobStore:
    return BlobStore(platform.clients, platform.settings.bucket_name)


def append_execute_step(platform: Platform, run: dict[str, Any], stdout: str) -> int:
    """An execute step as the workflow records it: the preview in `detail`, the full text in S3."""
    outputs = Outputs(blobs_of(platform), run["org_id"], run["id"])
    detail = {"tool": "python", "code": "print(big)", "stdout": outputs.text("stdout", stdout), "exit_code": 0}
    step = RunStore(platform.table).append_step(
        run["org_id"], run["id"], "execute", detail=detail, full_output=outputs.refs
    )
    return step.seq


def steps_of(api: EventClient, run_id: str) -> dict[int, dict[str, Any]]:
    response = api.get(f"/v1/runs/{run_id}/steps")
    assert response.status == 200, response.text
    return {step["seq"]: step for step in response.json()["items"]}


def download(url: str) -> requests.Response:
    """What a browser or `curl` does with the URL; moto answers it as S3 would."""
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response


def signed_response_headers(url: str) -> tuple[str, str]:
    """The Content-Type and Content-Disposition the signed URL makes S3 answer with (moto leaves them out)."""
    query = parse_qs(urlsplit(url).query)
    return query["response-content-type"][0], query["response-content-disposition"][0]


def test_a_spilled_stdout_is_a_preview_with_a_url_that_downloads_the_whole_text(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    # Given an execute step whose stdout was too long for its record
    seq = append_execute_step(platform, finished_run, BIG_STDOUT)

    # When the steps are listed
    step = steps_of(api, finished_run["id"])[seq]

    # Then the detail keeps a bounded preview with the marker, head and tail
    preview = step["detail"]["stdout"]
    assert MARKER in preview and len(preview) < len(BIG_STDOUT) // 10
    assert preview.startswith("line 000000:") and preview.rstrip().endswith("line 011999: " + "x" * 40)
    # And the full output names the text and a URL that downloads all of it, inline, under a readable name
    ref = step["full_output"]["stdout"]
    assert ref["chars"] == len(BIG_STDOUT) and ref["bytes"] == len(BIG_STDOUT.encode())
    assert ref["key"].startswith(f"orgs/{finished_run['org_id']}/runs/{finished_run['id']}/outputs/")
    assert download(ref["url"]).text == BIG_STDOUT
    assert signed_response_headers(ref["url"]) == (
        "text/plain; charset=utf-8",
        f'inline; filename="step-{seq}-stdout.txt"',
    )
    # And the stored record holds no URL: each is signed when the API returns it
    stored = platform.table.get(f"ORG#{finished_run['org_id']}#RUN#{finished_run['id']}", f"STEP#{seq:08d}")
    assert stored is not None and stored["full_output"]["stdout"]["url"] is None


def test_fields_that_fit_have_no_full_output(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    seq = append_execute_step(platform, finished_run, "rows: 3\n")

    step = steps_of(api, finished_run["id"])[seq]

    assert step["detail"]["stdout"] == "rows: 3\n" and step["full_output"] == {}
    assert all(not s["full_output"] for s in steps_of(api, finished_run["id"]).values())


def test_spilled_tool_calls_download_as_json(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    # Given a think step that proposed a cell longer than a preview
    calls = [{"id": "c1", "name": "python", "arguments": {"code": "x = 1\n" * 40_000}}]
    outputs = Outputs(blobs_of(platform), finished_run["org_id"], finished_run["id"])
    detail = {"text": "a long cell", "tool_calls": outputs.tool_calls("tool_calls", calls)}
    runs = RunStore(platform.table)
    seq = runs.append_step(
        finished_run["org_id"], finished_run["id"], "think", detail=detail, full_output=outputs.refs
    ).seq

    # When the steps are listed
    step = steps_of(api, finished_run["id"])[seq]

    # Then the call keeps a preview and its URL downloads every call whole
    assert MARKER in step["detail"]["tool_calls"][0]["arguments"]["code"]
    url = step["full_output"]["tool_calls"]["url"]
    assert json.loads(download(url).text) == calls
    assert signed_response_headers(url) == ("application/json", f'inline; filename="step-{seq}-tool_calls.json"')


def test_a_long_result_has_a_url_on_the_run_and_in_the_runs_list(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    # Given a run whose result keeps a preview of a longer answer
    answer = "The answer, at length. " * 2_000
    outputs = Outputs(blobs_of(platform), finished_run["org_id"], finished_run["id"])
    preview = outputs.text("answer", answer)

    def keep_preview(run: Any) -> Any:
        run.result, run.result_full = preview, outputs.refs["answer"]
        return run

    RunStore(platform.table).update(finished_run["org_id"], finished_run["id"], keep_preview)

    # When the run is read, alone and in the list
    run = api.get(f"/v1/runs/{finished_run['id']}").json()
    listed = next(r for r in api.get("/v1/runs").json()["items"] if r["id"] == finished_run["id"])

    # Then both carry the preview and a URL that downloads the whole answer
    assert MARKER in run["result"] and len(run["result"]) < len(answer)
    for shown in (run, listed):
        assert shown["result_full"]["chars"] == len(answer)
        url = shown["result_full"]["url"]
        assert download(url).text == answer
        assert signed_response_headers(url)[1] == f'inline; filename="run-{run["id"]}-result.txt"'


def test_a_run_of_another_org_is_not_found_and_nothing_of_it_is_signed(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    append_execute_step(platform, finished_run, BIG_STDOUT)
    _, other_key = platform.new_org("globex")
    other = platform.api(other_key)

    error_of(other.get(f"/v1/runs/{finished_run['id']}/steps"), 404, "not_found")
    error_of(other.get(f"/v1/runs/{finished_run['id']}"), 404, "not_found")
    assert all(r["id"] != finished_run["id"] for r in other.get("/v1/runs").json()["items"])


def test_a_reference_outside_the_runs_own_keys_is_never_signed(
    platform: Platform, api: EventClient, finished_run: dict[str, Any]
) -> None:
    # Given a step record that names a key of another run (no workflow writes one; the API must not trust it)
    foreign = OutputRef(key="orgs/other-org/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/outputs/x/stdout.txt", chars=3, bytes=3)
    blobs_of(platform).put(foreign.key, b"not yours", content_type="text/plain")
    runs = RunStore(platform.table)
    appended = runs.append_step(
        finished_run["org_id"], finished_run["id"], "execute", detail={"stdout": "..."}, full_output={"stdout": foreign}
    )

    step = steps_of(api, finished_run["id"])[appended.seq]

    assert step["full_output"]["stdout"]["url"] is None


def test_the_openapi_document_describes_full_outputs(api: EventClient) -> None:
    schemas = api.get("/v1/openapi.json").json()["components"]["schemas"]

    assert {"key", "chars", "bytes", "url"} <= set(schemas["OutputRef"]["properties"])
    full_output = schemas["Step"]["properties"]["full_output"]
    assert full_output["additionalProperties"]["$ref"].endswith("/OutputRef")
    result_full = json.dumps(schemas["Run"]["properties"]["result_full"])
    assert "/OutputRef" in result_full
