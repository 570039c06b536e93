"""The dashboard in headless Chromium against the local stack started as `make dev` starts it.

One stack and one browser for the module; each test has its own browser context (its own session).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from dashboard_browser import (
    CHROMIUM_ARGS,
    DIST,
    PASSWORD,
    SCREENSHOTS,
    chromium_path,
    create_member,
    missing_browser_reason,
)
from run_checks import wait_for
from stack_process import LocalStackProcess, free_port

from agentlab.local.stack import DEV_SERVER_ORIGINS
from agentlab.store.cors import BROWSER_CORS_RULE

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

_SKIP = missing_browser_reason()
if _SKIP:
    pytest.skip(_SKIP, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ADMIN = "admin@dashboard.test"
VIEWER = "viewer@dashboard.test"
CSV = b"month,sales\nJan,10\nFeb,14\nMar,9\n"
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
# The rule a first deployment had: no POST, so the dashboard's presigned POST was refused by every browser.
RULE_WITHOUT_POST = {
    "AllowedMethods": ["GET", "PUT", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3000,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    if not (DIST / "index.html").is_file():
        pytest.fail("the dashboard is not built: run `make frontend` (make test builds it)")
    process = LocalStackProcess(tmp_path_factory.mktemp("dashboard") / "data", free_port())
    process.start()
    try:
        with process.client() as client:
            create_member(client, ADMIN, "admin")
            create_member(client, VIEWER, "viewer")
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(stack: LocalStackProcess) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, stack: LocalStackProcess, email: str) -> None:
    page.goto(stack.url + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(email)


def scripted_agent(api: httpx.Client, name: str) -> dict[str, Any]:
    found = api.get("/v1/agents", params={"name": name}).json()["items"]
    if found:
        return found[0]
    created = api.post("/v1/agents", json={"name": name, "models": {"reasoning": ["scripted"]}})
    assert created.status_code == 201, created.text
    return created.json()


def start_scripted_run(api: httpx.Client, prompt: str, script: list[dict[str, str]]) -> dict[str, Any]:
    agent = scripted_agent(api, "e2e-scripted")
    created = api.post("/v1/runs", json={"agent_id": agent["id"], "prompt": prompt, "script": script})
    assert created.status_code == 201, created.text
    return created.json()


def drop_file(page: Page, name: str, mime: str, data: bytes) -> None:
    """Drag and drop a file onto the drop zone, as a person dropping it from their desktop."""
    page.get_by_test_id("dropzone").evaluate(
        """(zone, [name, mime, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
            }
        }""",
        [name, mime, list(data)],
    )


def test_sign_in_create_an_agent_and_watch_a_csv_run_to_its_chart(
    page: Page, stack: LocalStackProcess, api: httpx.Client
) -> None:
    # Given an admin signed in through the form
    sign_in(page, stack, ADMIN)

    # When they create an agent on the scripted model
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name").fill("e2e-analyst")
    page.get_by_label("Description").fill("Charts CSV files")
    page.get_by_label("Reasoning models").fill("scripted")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="Version history")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Version 1 ·"))).to_be_visible()
    agent = api.get("/v1/agents", params={"name": "e2e-analyst"}).json()["items"][0]
    assert agent["models"]["reasoning"] == ["scripted"] and agent["description"] == "Charts CSV files"

    # And start a run on it with a CSV dropped onto the form
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New run").click()
    page.get_by_label("Agent").select_option(label="e2e-analyst")
    page.get_by_label("Prompt").fill("Summarise this CSV and chart it")
    drop_file(page, "sales.csv", "text/csv", CSV)
    expect(page.get_by_text("Ready")).to_be_visible()
    drop_file(page, "notes.pdf", "application/pdf", b"%PDF-1.7\n")
    expect(page.get_by_text(re.compile(r"notes\.pdf: only PNG"))).to_be_visible()
    page.get_by_role("button", name="Remove notes.pdf").click()
    page.get_by_label(re.compile("^Python check")).fill('from pathlib import Path\nassert Path("chart.png").is_file()')
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9A-Z]{26}$"))
    run_id = page.url.rsplit("/", 1)[1]

    # Then the steps arrive on the page without a reload, ending with the goal evaluation
    steps = page.get_by_role("listitem", name=re.compile(r"^Step \d+:"))
    counts: list[int] = []
    for _ in range(600):
        counts.append(steps.count())
        if page.get_by_role("listitem", name=re.compile(r"Evaluate goal$")).count():
            break
        page.wait_for_timeout(100)
    expect(page.locator(".page-head .badge").first).to_have_text("succeeded")
    assert page.evaluate("window.__sameDocument") is True
    final_count = steps.count()
    expect(page.get_by_role("listitem", name=re.compile(r"^Step \d+: Execute$")).first).to_contain_text("3 rows")
    expect(page.get_by_text("scripted model").first).to_be_visible()
    evaluation = page.get_by_role("listitem", name=re.compile(r"^Step \d+: Evaluate goal$"))
    expect(evaluation.locator(".badge")).to_have_text("met")
    expect(evaluation).to_contain_text("Check exit code: 0")
    stored = api.get(f"/v1/runs/{run_id}/steps").json()["items"]
    assert final_count == len(stored)

    # And the chart artifact is shown inline and can be downloaded
    chart = page.get_by_role("img", name="Artifact chart.png")
    expect(chart).to_be_visible()
    chart.scroll_into_view_if_needed()
    chart.element_handle().wait_for_element_state("stable")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
    href = page.get_by_role("link", name="Download chart.png").first.get_attribute("href")
    assert href and httpx.get(href, timeout=30).content.startswith(b"\x89PNG")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "run-page.png"), full_page=True)

    # And the runs list shows it without a reload
    page.get_by_role("link", name="← Runs").click()
    row = page.locator(f"tr[data-run-id='{run_id}']")
    expect(row).to_contain_text("e2e-analyst")
    expect(row).to_contain_text("succeeded")

    # And a run whose cells take a while shows its steps as they come, on the page it is watched on (the CSV run
    # above can end before its page first asks: the local engine takes milliseconds a step)
    slowly = [{"tool": "python", "code": "import time\ntime.sleep(1)"}] * 2 + [{"tool": "finish", "answer": "done"}]
    slow = start_scripted_run(api, "slowly", slowly)
    page.goto(f"{stack.url}/runs/{slow['id']}")
    page.evaluate("window.__sameDocument = true")
    seen: list[int] = []
    for _ in range(300):
        seen.append(steps.count())
        if api.get(f"/v1/runs/{slow['id']}").json()["status"] == "succeeded" and steps.count() >= 5:
            break
        page.wait_for_timeout(100)
    expect(page.locator(".page-head .badge").first).to_have_text("succeeded")
    assert page.evaluate("window.__sameDocument") is True
    assert any(0 < count < steps.count() for count in seen), seen  # some steps were shown before the last arrived


def storage_of(api: httpx.Client) -> tuple[Any, str]:
    """An S3 client on the storage endpoint presigned URLs name, and the bucket, as the API hands them out."""
    created = api.post("/v1/files", json={"name": "probe.csv", "content_type": "text/csv", "size": 1})
    assert created.status_code == 201, created.text
    parts = urlsplit(created.json()["upload"]["url"])
    prefix, bucket = parts.path.rsplit("/", 1)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{parts.scheme}://{parts.netloc}{prefix}",
        region_name="us-east-1",
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )
    return s3, bucket


def start_new_run_with_a_csv(page: Page, stack: LocalStackProcess, api: httpx.Client) -> tuple[Any, Any]:
    """An admin on the new-run page drops a CSV; returns the file announcement's and the storage POST's responses."""
    scripted_agent(api, "e2e-uploads")
    sign_in(page, stack, ADMIN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New run").click()
    page.get_by_label("Agent").select_option(label="e2e-uploads")
    page.get_by_label("Prompt").fill("Summarise this CSV and chart it")
    with (
        page.expect_response(lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/v1/files") as announced,
        page.expect_request(lambda r: r.method == "POST" and "/_s3/" in r.url) as posted,
    ):
        drop_file(page, "sales.csv", "text/csv", CSV)
    return announced.value, posted.value


def test_the_bucket_has_the_rule_the_cloud_stack_deploys(stack: LocalStackProcess, api: httpx.Client) -> None:
    s3, bucket = storage_of(api)

    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]

    assert rules == [BROWSER_CORS_RULE.for_origins([stack.url, *DEV_SERVER_ORIGINS])]
    assert "POST" in rules[0]["AllowedMethods"]


def test_an_upload_goes_cross_origin_to_storage_and_the_run_uses_the_file(
    page: Page, stack: LocalStackProcess, api: httpx.Client
) -> None:
    # Given an admin on the new-run page, when they drop a CSV
    announced, posted = start_new_run_with_a_csv(page, stack, api)

    # Then the presigned POST goes to another origin than the dashboard's, with the dashboard's origin ...
    page_origin = urlsplit(page.url)
    storage = urlsplit(posted.url)
    assert (storage.scheme, storage.netloc) != (page_origin.scheme, page_origin.netloc)
    assert posted.all_headers()["origin"] == stack.url
    # ... and storage answers it with the CORS headers that let the page read the answer
    answer = posted.response()
    assert answer is not None and answer.status == 204
    assert answer.all_headers()["access-control-allow-origin"] == stack.url
    expect(page.get_by_text("Ready")).to_be_visible()
    file_id = announced.json()["file"]["id"]
    assert api.get(f"/v1/files/{file_id}").json()["status"] == "ready"

    # And the run started with it reads the file and succeeds
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9A-Z]{26}$"))
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(".page-head .badge").first).to_have_text("succeeded", timeout=120_000)
    expect(page.get_by_role("listitem", name=re.compile(r"^Step \d+: Execute$")).first).to_contain_text("3 rows")
    assert api.get(f"/v1/runs/{run_id}").json()["file_ids"] == [file_id]


def test_a_rule_without_post_makes_the_same_upload_fail_in_the_browser(
    page: Page, stack: LocalStackProcess, api: httpx.Client
) -> None:
    # Given the bucket with the rule of a first deployment, which left out POST
    s3, bucket = storage_of(api)
    deployed = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    s3.put_bucket_cors(
        Bucket=bucket, CORSConfiguration={"CORSRules": [{**RULE_WITHOUT_POST, "AllowedOrigins": [stack.url]}]}
    )
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url) if "/_s3/" in request.url else None)
    try:
        # When an admin drops a CSV on the new-run page
        announced, posted = start_new_run_with_a_csv(page, stack, api)

        # Then the browser keeps storage's answer from the page: the upload fails and says so
        expect(page.get_by_role("alert").filter(has_text="sales.csv could not be uploaded")).to_be_visible()
        expect(page.get_by_text("Remove the files that could not be uploaded before starting the run.")).to_be_visible()
        expect(page.get_by_role("button", name="Start run")).to_be_disabled()
        assert failed == [posted.url]
        # And the file is never completed: the dashboard did not get to ask
        file_id = announced.json()["file"]["id"]
        assert api.get(f"/v1/files/{file_id}").json()["status"] == "pending"
    finally:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": deployed})


def test_a_preflight_is_answered_from_the_bucket_rule(stack: LocalStackProcess, api: httpx.Client) -> None:
    s3, bucket = storage_of(api)
    url = f"{s3.meta.endpoint_url}/{bucket}"

    def preflight(origin: str, method: str, headers: str = "") -> httpx.Response:
        asked = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            asked["Access-Control-Request-Headers"] = headers
        return httpx.options(url, headers=asked, timeout=30)

    allowed = preflight(stack.url, "POST", "content-type")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == stack.url
    assert allowed.headers["access-control-allow-headers"] == "content-type"
    assert preflight(stack.url, "PUT").status_code == 403
    assert preflight(stack.url, "POST", "x-custom").status_code == 403
    assert preflight("http://elsewhere.test", "POST").status_code == 403


def test_a_long_output_shows_a_preview_and_its_full_text_from_storage(
    page: Page, stack: LocalStackProcess, api: httpx.Client
) -> None:
    # Given a run whose cell printed far more than a step's record keeps
    code = 'print("\\n".join(f"row {n}" for n in range(60_000)))'
    run = start_scripted_run(
        api, "print a long table", [{"tool": "python", "code": code}, {"tool": "finish", "answer": "ok"}]
    )
    assert wait_for(api, run["id"], TERMINAL)["status"] == "succeeded"
    sign_in(page, stack, ADMIN)
    page.goto(f"{stack.url}/runs/{run['id']}")
    execute = page.get_by_role("listitem", name=re.compile(r"^Step \d+: Execute$")).first
    stdout = execute.get_by_label("stdout", exact=True)
    expect(stdout).to_contain_text("characters omitted")
    expect(stdout).not_to_contain_text("row 30000\n")

    # When they ask for the full output
    with page.expect_response(lambda r: "/_s3/" in r.url) as fetched:
        execute.get_by_role("button", name="Show full output of stdout").click()

    # Then the page fetches it from storage, across origins, and shows all of it
    assert fetched.value.status == 200
    assert fetched.value.all_headers()["access-control-allow-origin"] == stack.url
    expect(execute.get_by_text(re.compile(r"^Full stdout \(\d[\d,]* characters"))).to_be_visible()
    expect(stdout).to_contain_text("row 30000\n")
    expect(stdout).to_contain_text("row 59999")
    expect(stdout).not_to_contain_text("characters omitted")


def test_cancel_a_long_run(page: Page, stack: LocalStackProcess, api: httpx.Client) -> None:
    run = start_scripted_run(
        api,
        "sleep for a while",
        [{"tool": "python", "code": "import time\ntime.sleep(60)"}, {"tool": "finish", "answer": "too late"}],
    )
    sign_in(page, stack, ADMIN)
    page.goto(f"{stack.url}/runs/{run['id']}")
    expect(page.get_by_role("listitem", name=re.compile(r"^Step \d+: Think$")).first).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()

    page.get_by_role("button", name="Cancel run").click()

    expect(page.locator(".page-head .badge").first).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.get_by_role("button", name="Rerun")).to_be_visible()
    assert api.get(f"/v1/runs/{run['id']}").json()["status"] == "cancelled"


def test_approve_a_paused_run(page: Page, stack: LocalStackProcess, api: httpx.Client) -> None:
    run = start_scripted_run(
        api,
        "ask before finishing",
        [
            {"tool": "request_approval", "reason": "May I publish the report?"},
            {"tool": "finish", "answer": "Published."},
        ],
    )
    sign_in(page, stack, ADMIN)
    page.goto(f"{stack.url}/runs/{run['id']}")
    request = page.get_by_role("region", name="Waiting for approval")
    expect(request).to_contain_text("May I publish the report?")

    request.get_by_role("button", name="Approve…").click()
    request.get_by_label("Comment (optional)").fill("looks good")
    request.get_by_role("button", name="Confirm approval").click()

    expect(page.locator(".page-head .badge").first).to_have_text("succeeded")
    approval = page.get_by_role("listitem", name=re.compile(r"^Step \d+: Approval$"))
    expect(approval).to_contain_text("approved")
    expect(approval).to_contain_text("looks good")
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "succeeded" and final["result"] == "Published."


def test_a_viewer_cannot_start_runs(page: Page, stack: LocalStackProcess, api: httpx.Client) -> None:
    run = start_scripted_run(api, "viewer check", [{"tool": "finish", "answer": "done"}])
    wait_for(api, run["id"], TERMINAL)
    sign_in(page, stack, VIEWER)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Agents")).to_be_visible()
    expect(nav.get_by_role("link", name="New run")).to_have_count(0)
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    expect(page.locator(f"tr[data-run-id='{run['id']}']")).to_be_visible()
    expect(page.get_by_role("link", name="New run")).to_have_count(0)

    page.goto(f"{stack.url}/runs/{run['id']}")
    expect(page.locator(".page-head .badge").first).to_have_text("succeeded")
    expect(page.get_by_role("main").get_by_role("button")).to_have_count(0)  # no Rerun, Cancel or Approve

    page.goto(f"{stack.url}/runs/new")
    expect(page.get_by_text("Your role cannot start runs.")).to_be_visible()
    expect(page.get_by_role("button", name="Start run")).to_have_count(0)


def test_a_schedule_made_in_the_dashboard_runs_now_and_its_run_shows_on_the_usage_page(
    page: Page, stack: LocalStackProcess, api: httpx.Client
) -> None:
    agent = scripted_agent(api, "e2e-scripted")
    sign_in(page, stack, ADMIN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="New schedule").first.click()

    # The expression is described, with its next fire times, as it is typed
    page.get_by_label("Name", exact=True).fill("dashboard digest")
    page.get_by_label("Expression").fill("rate(2 hours)")
    expect(page.locator(".preview")).to_contain_text("every 2 hours")
    expect(page.get_by_role("list", name="Next fires").get_by_role("listitem")).to_have_count(5)
    page.get_by_role("combobox", name="Agent").select_option(agent["id"])
    page.get_by_label("Prompt", exact=True).fill("summarise the day")
    page.get_by_role("button", name="Create schedule").click()

    expect(page.get_by_role("heading", name="dashboard digest")).to_be_visible()
    schedule_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Run now").click()
    fire = page.get_by_role("table", name=re.compile("fire", re.IGNORECASE)).get_by_role("row").nth(1)
    expect(fire).to_contain_text("started")
    run_id = fire.get_by_role("link").inner_text()
    run = wait_for(api, run_id, TERMINAL)
    assert run["schedule_id"] == schedule_id and run["status"] == "succeeded"

    # The usage page counts the run and draws its pictures
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage and cost")).to_be_visible()
    totals = page.get_by_role("list", name="Totals")
    expect(totals).to_contain_text("succeeded")
    expect(page.get_by_role("table", name="Cost by component")).to_contain_text("Sandbox")
    for chart in ("Cost per day by component", "Tokens by model", "Runs by status"):
        expect(page.get_by_role("img", name=re.compile(f"^{chart}"))).to_be_visible()
    usage = api.get("/v1/usage", params={"group_by": "schedule"}).json()
    assert schedule_id in [group["key"] for group in usage["groups"]]


def test_an_admin_creates_an_api_key_once_and_revokes_it(page: Page, stack: LocalStackProcess) -> None:
    sign_in(page, stack, ADMIN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    form = page.get_by_role("form", name="Create an API key")
    form.get_by_label("Name").fill("e2e-key")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("secret").inner_text()
    assert key.startswith("al_")
    me = httpx.get(f"{stack.url}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert me.status_code == 200 and me.json()["role"] == "viewer"

    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("secret")).to_have_count(0)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke e2e-key").click()
    expect(page.get_by_role("row").filter(has_text="e2e-key")).to_contain_text("revoked")
    assert httpx.get(f"{stack.url}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 401


def test_sign_out_ends_the_session(page: Page, stack: LocalStackProcess) -> None:
    sign_in(page, stack, VIEWER)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_is_refused_with_the_servers_message(page: Page, stack: LocalStackProcess) -> None:
    page.goto(stack.url + "/")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_screenshot_directory_is_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "tests/e2e/screenshots/" in ignored
