import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { apiError, artifact, baseline, COMMIT_SHA, FakeApi, renderWithApi, repoConfig, REPO_ID, repoRun, serveRepos, step } from "../test/fakeApi";
import { RepoPage } from "./RepoPage";
import { RunPage } from "./RunPage";

const RUN_ID = "01RUN00000000000000000000A";

function page(fake: FakeApi) {
  return renderWithApi(
    <Routes>
      <Route path="/repos/:repoId" element={<RepoPage />} />
      <Route path="/runs/:runId" element={<p>run page</p>} />
    </Routes>,
    fake,
    { path: `/repos/${REPO_ID}` },
  );
}

function row(name: string): HTMLElement {
  return screen.getByRole("rowheader", { name: new RegExp(`^${name}`) }).closest("tr")!;
}

async function paste(user: ReturnType<typeof userEvent.setup>, field: HTMLElement, text: string) {
  await user.clear(field);
  await user.click(field);
  if (text) await user.paste(text);
}

describe("repo commands", () => {
  it("shows each command with its origin, confidence and evidence, and flags the ones to confirm", async () => {
    page(serveRepos(new FakeApi("viewer")));
    expect(await screen.findByRole("heading", { name: "fastmath" })).toBeTruthy();
    await screen.findByRole("table", { name: "Commands" });
    const install = row("install");
    expect(within(install).getByText("uv sync")).toBeTruthy();
    expect(within(install).getByText("(detected)")).toBeTruthy();
    expect(within(install).getByText("95%")).toBeTruthy();
    expect(within(install).getByRole("list", { name: "Evidence for install" }).textContent).toBe("uv.lock — a uv lock file");
    expect(within(row("test")).getByText(".github/workflows/ci.yml:31 — run: uv run pytest -q")).toBeTruthy();
    const build = row("build");
    expect(within(build).getByText("make build")).toBeTruthy();
    expect(within(build).getByText("(override)")).toBeTruthy();
    expect(within(build).queryByText("needs confirmation")).toBeNull();
    expect(within(row("typecheck")).getByText("none")).toBeTruthy();
    const bench = row("bench");
    expect(within(bench).getByText("40%")).toBeTruthy();
    expect(within(bench).getByText("needs confirmation")).toBeTruthy();
    expect(screen.getByText(/1 command needs confirmation: bench\./)).toBeTruthy();
    expect(within(screen.getByRole("list", { name: "Detection notes" })).getByText("no lint configuration found")).toBeTruthy();
    expect(screen.getByText("python · uv · pytest")).toBeTruthy();
    // A viewer reads it all but changes nothing.
    expect(screen.queryByRole("textbox")).toBeNull();
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.getByText(/The benchmark runs 5 times/)).toBeTruthy();
  });

  it("confirms a command the detector was not sure of, keeping the saved overrides", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Confirm bench" }));
    await waitFor(() => expect(within(row("bench")).queryByText("needs confirmation")).toBeNull());
    expect(fake.calls("PUT", `/v1/repos/${REPO_ID}/config`)[0].body).toEqual({
      overrides: { build: "make build" },
      confirmed: ["bench"],
      expected_revision: 3,
    });
    expect(screen.queryByText(/needs confirmation: bench/)).toBeNull();
    expect(screen.queryByRole("button", { name: "Confirm bench" })).toBeNull();
  });

  it("saves overrides: a new one, a cleared one, the benchmark runs, at the revision it was loaded at", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    const user = userEvent.setup();
    const test = await screen.findByLabelText("Override for test");
    expect(test.getAttribute("placeholder")).toBe("uv run pytest -q");
    const save = screen.getByRole("button", { name: "Save commands" }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    await paste(user, test, "uv run pytest -q -p no:randomly");
    await paste(user, screen.getByLabelText("Override for build"), "");
    await paste(user, screen.getByLabelText("Benchmark runs"), "7");
    await user.click(save);
    expect(await screen.findByText(/Saved\. The next baseline runs these commands\./)).toBeTruthy();
    expect(fake.calls("PUT", `/v1/repos/${REPO_ID}/config`)[0].body).toEqual({
      overrides: { test: "uv run pytest -q -p no:randomly", build: null },
      confirmed: [],
      bench_runs: 7,
      expected_revision: 3,
    });
    expect(within(row("test")).getByText("(override)")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Save commands" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("keeps unsaved edits when a command is confirmed meanwhile", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    const user = userEvent.setup();
    await paste(user, await screen.findByLabelText("Override for lint"), "ruff check .");
    await user.click(screen.getByRole("button", { name: "Confirm bench" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: "Confirm bench" })).toBeNull());
    expect((screen.getByLabelText("Override for lint") as HTMLInputElement).value).toBe("ruff check .");
    await user.click(screen.getByRole("button", { name: "Save commands" }));
    await screen.findByText(/Saved\./);
    expect(fake.calls("PUT", `/v1/repos/${REPO_ID}/config`)[1].body).toEqual({
      overrides: { build: "make build", lint: "ruff check ." },
      confirmed: ["bench"],
      bench_runs: 5,
      expected_revision: 4,
    });
  });

  it("checks the benchmark runs before sending and shows a conflict from the server", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    const user = userEvent.setup();
    const runs = await screen.findByLabelText("Benchmark runs");
    await paste(user, runs, "51");
    await user.click(screen.getByRole("button", { name: "Save commands" }));
    const hint = screen.getByText("Benchmark runs: a whole number from 1 to 50.");
    expect(runs.getAttribute("aria-describedby")).toBe(hint.id);
    expect(fake.calls("PUT", `/v1/repos/${REPO_ID}/config`)).toHaveLength(0);

    fake.on("PUT /v1/repos/:id/config", apiError(409, "revision_conflict", "the config changed: it is at revision 4"));
    await paste(user, runs, "9");
    await user.click(screen.getByRole("button", { name: "Save commands" }));
    expect((await screen.findByRole("alert")).textContent).toContain("the config changed: it is at revision 4");
  });

  it("says when nothing has been detected yet, and leaves the benchmark runs to the deployment unless given", async () => {
    const fake = serveRepos(new FakeApi("operator"), { config: repoConfig({ detected: null, effective: {}, overrides: {}, bench_runs: null }) });
    page(fake);
    const user = userEvent.setup();
    expect(await screen.findByText(/Not detected yet/)).toBeTruthy();
    const install = screen.getByLabelText("Override for install");
    expect(install.getAttribute("placeholder")).toBe("no command");
    expect((screen.getByLabelText("Benchmark runs") as HTMLInputElement).value).toBe("");
    await paste(user, install, "pip install -e .");
    await user.click(screen.getByRole("button", { name: "Save commands" }));
    await screen.findByText(/Saved\./);
    expect(fake.calls("PUT", `/v1/repos/${REPO_ID}/config`)[0].body).toEqual({
      overrides: { install: "pip install -e ." },
      confirmed: [],
      expected_revision: 3,
    });
  });
});

describe("repo runs", () => {
  it("runs a baseline on a branch and lists the run, linking to it", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    const user = userEvent.setup();
    expect(await screen.findByText("No runs yet.")).toBeTruthy();
    const branch = screen.getByLabelText("Branch (optional)");
    expect(branch.getAttribute("placeholder")).toBe("main");
    await paste(user, branch, "feature/faster");
    await user.click(screen.getByRole("button", { name: "Run baseline" }));
    const started = await screen.findByRole("link", { name: "Watch it live" });
    expect(fake.calls("POST", `/v1/repos/${REPO_ID}/runs`)[0].body).toEqual({ branch: "feature/faster" });
    const item = await screen.findByRole("listitem", { name: /^Run 01RUN/ });
    expect(within(item).getByText("queued")).toBeTruthy();
    expect(within(item).getByText(/feature\/faster/)).toBeTruthy();
    expect(within(item).getByText("The baseline appears here when the run ends.")).toBeTruthy();
    await user.click(started);
    expect(await screen.findByText("run page")).toBeTruthy();
  });

  it("starts on the default branch when none is given", async () => {
    const fake = serveRepos(new FakeApi("operator"));
    page(fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Run baseline" }));
    await screen.findByRole("link", { name: "Watch it live" });
    expect(fake.calls("POST", `/v1/repos/${REPO_ID}/runs`)[0].body).toEqual({});
  });

  it("shows a finished run's baseline: tests, flaky tests, benchmark, phases and the log artifacts", async () => {
    const fake = serveRepos(new FakeApi("viewer"), {
      runs: [repoRun({ status: "succeeded", ended_at: "2026-01-01T12:05:00Z" })],
      baselines: { [RUN_ID]: baseline() },
    });
    page(fake);
    const item = await screen.findByRole("listitem", { name: `Run ${RUN_ID}` });
    expect(within(item).getByText("0123456789ab", { selector: "header code" })).toBeTruthy();
    expect(await within(item).findByText("40 passed")).toBeTruthy();
    expect(within(item).getByText(/1 failed · 0 errors · 1 skipped of 42/)).toBeTruthy();
    expect(within(within(item).getByRole("list", { name: "Failing tests" })).getByText("tests/test_add.py::test_overflow")).toBeTruthy();
    expect(within(within(item).getByRole("list", { name: "Flaky tests" })).getByText("tests/test_clock.py::test_tick")).toBeTruthy();

    const series = within(within(item).getByRole("table", { name: "Benchmark series" })).getByRole("rowheader", { name: "matmul" }).closest("tr")!;
    expect(within(series).getByText("120 ms")).toBeTruthy();
    expect(within(series).getByText("115 ms – 125 ms")).toBeTruthy();
    expect(within(series).getByText("5.8%")).toBeTruthy();

    const phases = within(item).getByRole("table", { name: "Phases" });
    const install = within(phases).getByRole("rowheader", { name: "install" }).closest("tr")!;
    expect(within(install).getByText("0")).toBeTruthy();
    expect(within(install).getByText("4.3 s")).toBeTruthy();
    expect(within(install).getByText("on")).toBeTruthy();
    const bench = within(phases).getByRole("rowheader", { name: "bench" }).closest("tr")!;
    expect(within(bench).getByText("137")).toBeTruthy();
    expect(within(bench).getByText("timeout limit")).toBeTruthy();
    expect(within(bench).getByText("5 min 0 s")).toBeTruthy();
    expect(bench.className).toContain("phase-failed");

    expect(within(item).getByRole("link", { name: "Download logs.txt" }).getAttribute("href")).toBe(artifact("logs.txt").url);
    expect(within(item).getByRole("link", { name: "Download baseline.json" }).getAttribute("href")).toBe(artifact("baseline.json").url);
    expect(within(item).queryByRole("link", { name: "Download trace.json" })).toBeNull();
    expect(within(item).getByText("the test phase ran twice to find flaky tests")).toBeTruthy();
  });

  it("shows why a baseline failed, and says so when a run ended without one", async () => {
    const failedRun = repoRun({ id: "01RUN00000000000000000000B", status: "failed" });
    const earlyRun = repoRun({ id: "01RUN00000000000000000000C", status: "failed", error: { code: "checkout_failed", message: "branch nope not found" } });
    const fake = serveRepos(new FakeApi("viewer"), {
      runs: [failedRun, earlyRun],
      baselines: {
        "01RUN00000000000000000000B": baseline({ status: "failed", failure: { code: "no_tests_found", message: "pytest collected no tests" }, tests: null, benchmark: null }),
      },
    });
    page(fake);
    const failed = await screen.findByRole("listitem", { name: "Run 01RUN00000000000000000000B" });
    expect((await within(failed).findByRole("alert")).textContent).toBe("no_tests_found pytest collected no tests");
    expect(within(failed).getByText("No test results.")).toBeTruthy();
    const early = screen.getByRole("listitem", { name: "Run 01RUN00000000000000000000C" });
    expect(await within(early).findByText("No baseline: the run ended before writing one.")).toBeTruthy();
    expect(within(early).getByText("branch nope not found")).toBeTruthy();
  });

  it("checks on a running run until it ends, then shows its baseline", { timeout: 10_000 }, async () => {
    const runs = [repoRun({ status: "running", repo: { repo_id: REPO_ID, branch: "main", sha: null, commit_sha: null } })];
    const fake = serveRepos(new FakeApi("viewer"), { runs, baselines: { [RUN_ID]: baseline() } });
    page(fake);
    const item = await screen.findByRole("listitem", { name: `Run ${RUN_ID}` });
    expect(within(item).getByText("The baseline appears here when the run ends.")).toBeTruthy();
    runs[0] = repoRun({ status: "succeeded" });
    expect(await within(item).findByText("40 passed", undefined, { timeout: 6000 })).toBeTruthy();
    const polls = fake.calls("GET", `/v1/repos/${REPO_ID}/runs`).length;
    await new Promise((resolve) => setTimeout(resolve, 3500));
    // Every run has ended: no more polling.
    expect(fake.calls("GET", `/v1/repos/${REPO_ID}/runs`)).toHaveLength(polls);
  });

  it("says so when the repository does not exist", async () => {
    page(new FakeApi("viewer").on("GET /v1/repos/:id", apiError(404, "not_found", "repo not found")));
    expect((await screen.findByRole("alert")).textContent).toContain("repo not found");
  });
});

describe("a repo run's page", () => {
  function runPage(fake: FakeApi) {
    return renderWithApi(
      <Routes>
        <Route path="/runs/:runId" element={<RunPage />} />
        <Route path="/repos/:repoId" element={<p>repo page</p>} />
      </Routes>,
      fake,
      { path: `/runs/${RUN_ID}` },
    );
  }

  function serveRun(fake: FakeApi, current: Record<string, unknown>) {
    return fake
      .on("GET /v1/runs/:id", { body: current })
      .on("GET /v1/runs/:id/steps", { body: { items: [step(1, "checkout", { branch: "main", commit_sha: COMMIT_SHA })], next_cursor: null } })
      .on("GET /v1/runs/:id/artifacts", { body: { items: [] } });
  }

  it("links to its repository, shows no agent and asks for none", async () => {
    const fake = serveRun(new FakeApi("viewer"), repoRun({ status: "succeeded", ended_at: "2026-01-01T12:05:00Z" }));
    runPage(fake);
    const link = await screen.findByRole("link", { name: REPO_ID });
    expect(link.getAttribute("href")).toBe(`/repos/${REPO_ID}`);
    expect(link.closest("dd")!.textContent).toContain("main · commit 0123456789ab");
    expect(screen.getByText("Agent", { selector: "dt" }).nextElementSibling?.textContent).toBe("none");
    expect(fake.requests.filter((r) => r.path.startsWith("/v1/agents"))).toHaveLength(0);
  });

  it("reruns from its repository on the same branch and commit", async () => {
    const fake = serveRun(
      new FakeApi("operator"),
      repoRun({ status: "failed", repo: { repo_id: REPO_ID, branch: "dev", sha: COMMIT_SHA, commit_sha: COMMIT_SHA } }),
    ).on("POST /v1/repos/:id/runs", { status: 201, body: repoRun({ id: "01RUN00000000000000000000Z" }) });
    runPage(fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Rerun" }));
    await waitFor(() => expect(fake.calls("POST", `/v1/repos/${REPO_ID}/runs`)).toHaveLength(1));
    expect(fake.calls("POST", `/v1/repos/${REPO_ID}/runs`)[0].body).toEqual({ branch: "dev", sha: COMMIT_SHA });
    expect(fake.calls("POST", "/v1/runs")).toHaveLength(0);
  });

  it("offers a member, who cannot start repo runs, no rerun", async () => {
    runPage(serveRun(new FakeApi("member"), repoRun({ status: "failed" })));
    await screen.findByRole("link", { name: REPO_ID });
    expect(screen.queryByRole("button", { name: "Rerun" })).toBeNull();
  });

  it("reads without a repository reference, and without an agent", async () => {
    runPage(serveRun(new FakeApi("viewer"), repoRun({ status: "succeeded", repo: null })));
    const agentTerm = await screen.findByText("Agent", { selector: "dt" });
    expect(agentTerm.nextElementSibling?.textContent).toBe("none");
    expect(screen.queryByText("Repository", { selector: "dt" })).toBeNull();
    expect(screen.getByRole("listitem", { name: /^Step 1/ })).toBeTruthy();
  });
});
