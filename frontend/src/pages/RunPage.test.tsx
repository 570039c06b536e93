import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { agent, FakeApi, renderWithApi, run, step } from "../test/fakeApi";
import { RunPage } from "./RunPage";

const RUN_ID = "01RUN00000000000000000000A";
const CHART = { id: "01ART", run_id: RUN_ID, name: "chart.png", content_type: "image/png", size: 2048, step_seq: 3, created_at: "2026-01-01T12:00:03Z", url: "http://dashboard.test/_s3/chart.png?sig=1" };

const STEPS = [
  step(1, "think", { text: "I will load the CSV.", tool_calls: [{ id: "c1", name: "python", arguments: { code: "print(1)" } }], scripted: true }, { model_id: "scripted", provider: "scripted", input_tokens: 120, output_tokens: 30, cost_usd: 0 }),
  step(2, "critique", { verdict: "warn", findings: [{ tool: "ruff", code: "F401", message: "unused import os", line: 1, severity: "warning" }] }),
  step(3, "execute", { tool: "python", code: "import pandas as pd\nprint('rows: 3')", stdout: "rows: 3\n", stderr: "a warning\n", exit_code: 0, limit: null, artifacts: [{ id: "01ART", name: "chart.png" }] }),
  step(4, "evaluate", { met: true, reason: "the goal holds", answer: "Three rows." }),
];

function page(fake: FakeApi) {
  return renderWithApi(
    <Routes>
      <Route path="/runs/:runId" element={<RunPage />} />
      <Route path="/" element={<p>runs list</p>} />
    </Routes>,
    fake,
    { path: `/runs/${RUN_ID}` },
  );
}

function serve(fake: FakeApi, current: () => Record<string, unknown>, steps: () => unknown[]) {
  return fake
    .on("GET /v1/runs/:id", () => ({ body: current() }))
    .on("GET /v1/runs/:id/steps", (r) => {
      const after = Number(r.query.get("after") ?? 0);
      return { body: { items: steps().filter((s) => (s as { seq: number }).seq > after), next_cursor: null } };
    })
    .on("GET /v1/runs/:id/artifacts", { body: { items: [CHART] } })
    .on("GET /v1/agents/:id", { body: agent() });
}

describe("run page", () => {
  it("renders each kind of step: model and tokens, findings, highlighted code and output, artifacts, goal", async () => {
    const fake = serve(new FakeApi("admin"), () => run({ status: "succeeded", result: "Three rows.", usage: { steps: 4, input_tokens: 120, output_tokens: 30, cost_usd: 0, sandbox_s: 1.5 } }), () => STEPS);
    page(fake);
    const think = await screen.findByRole("listitem", { name: "Step 1: Think" });
    expect(within(think).getByText("I will load the CSV.")).toBeTruthy();
    expect(within(think).getByText("120 in / 30 out")).toBeTruthy();
    expect(within(think).getByText("scripted model")).toBeTruthy();
    const critique = screen.getByRole("listitem", { name: "Step 2: Critique" });
    expect(within(critique).getByText("warn")).toBeTruthy();
    expect(within(critique).getByText(/unused import os/).textContent).toContain("(line 1)");
    const execute = screen.getByRole("listitem", { name: "Step 3: Execute" });
    const code = within(execute).getByLabelText("Code");
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("import");
    expect(within(execute).getByLabelText("stdout").textContent).toBe("rows: 3\n");
    expect(within(execute).getByLabelText("stderr").textContent).toBe("a warning\n");
    const image = within(execute).getByRole("img", { name: "Artifact chart.png" }) as HTMLImageElement;
    expect(image.src).toBe(CHART.url);
    expect(within(execute).getByRole("link", { name: "Download chart.png" }).getAttribute("href")).toBe(CHART.url);
    const evaluate = screen.getByRole("listitem", { name: "Step 4: Evaluate goal" });
    expect(within(evaluate).getByText("met")).toBeTruthy();
    expect(screen.getAllByText("scripted model").length).toBeGreaterThan(1);
    expect(screen.getByText("120 in / 30 out", { selector: ".summary dd" })).toBeTruthy();
  });

  it("shows an unknown cost in the summary, and that the last cut-off reply stopped the run", async () => {
    const usage = { steps: 3, input_tokens: 300, output_tokens: 12_000, cost_usd: 0, cost_known: false, sandbox_s: 0 };
    const cutOff = (seq: number) => step(seq, "think", { text: "Let me", tool_calls: [], reply: "truncated", max_tokens: 4096 }, { provider: "openai", model_id: "llama3.1:8b", cost_known: false });
    const error = { code: "model_output_truncated", message: "the model's reply was cut off by its output limit 3 times in a row" };
    const fake = serve(new FakeApi("member"), () => run({ status: "failed", usage, error }), () => [cutOff(1), cutOff(2), cutOff(3)]);
    page(fake);
    const last = await screen.findByRole("listitem", { name: "Step 3: Think" });
    expect(within(last).getByRole("note").textContent).toMatch(/the run stopped here\.$/);
    expect(within(screen.getByRole("listitem", { name: "Step 1: Think" })).getByRole("note").textContent).toMatch(/asked again\.$/);
    const summaryCost = screen.getByText("Cost", { selector: ".summary dt" }).nextElementSibling as HTMLElement;
    expect(summaryCost.querySelector(".cost-unknown")?.firstChild?.textContent).toBe("unknown (unpriced model)");
    expect(within(last).getByText("Cost", { selector: "dt" }).nextElementSibling?.textContent).toMatch(/^unknown \(unpriced model\)/);
  });

  it("shows an ended run's cost by component and the schedule that started it", async () => {
    const cost = { model: 0.012, sandbox: 0.0004, orchestration: 0.0005, lambda: 0.0002, storage: 0.00001, total: 0.01311 };
    const usage = { steps: 2, input_tokens: 900, output_tokens: 80, cost_usd: 0.012, cost_known: true, sandbox_s: 12 };
    const fake = serve(new FakeApi("viewer"), () => run({ status: "succeeded", usage, cost, schedule_id: "01SCHED0000000000000000000" }), () => []);
    page(fake);
    const breakdown = await screen.findByRole("list", { name: "Cost by component" });
    const items = within(breakdown).getAllByRole("listitem").map((item) => item.textContent);
    expect(items).toHaveLength(6);
    expect(items[0]).toMatch(/^Model /);
    expect(items[1]).toMatch(/^Sandbox /);
    expect(items[5]).toMatch(/^Total /);
    expect(screen.getByRole("link", { name: "01SCHED0000000000000000000" }).getAttribute("href")).toBe("/schedules/01SCHED0000000000000000000");
  });

  it("shows no breakdown before the run has ended", async () => {
    const fake = serve(new FakeApi("viewer"), () => run({ status: "running" }), () => []);
    page(fake);
    await screen.findByText("Cost", { selector: ".summary dt" });
    expect(screen.queryByRole("list", { name: "Cost by component" })).toBeNull();
  });

  it("shows new steps as they arrive, asking only for steps after the last one seen", async () => {
    let status = "running";
    let shown = 1;
    const fake = serve(new FakeApi("admin"), () => run({ status }), () => STEPS.slice(0, shown));
    page(fake);
    await screen.findByRole("listitem", { name: "Step 1: Think" });
    expect(screen.getByText("live")).toBeTruthy();
    shown = 3;
    await screen.findByRole("listitem", { name: "Step 3: Execute" }, { timeout: 3000 });
    status = "succeeded";
    shown = 4;
    await screen.findByRole("listitem", { name: "Step 4: Evaluate goal" }, { timeout: 3000 });
    const afters = fake.calls("GET", `/v1/runs/${RUN_ID}/steps`).map((r) => r.query.get("after"));
    expect(afters.slice(0, 3)).toEqual(["0", "1", "3"]);
    expect(screen.getAllByRole("listitem", { name: /^Step / })).toHaveLength(4);
    expect(screen.queryByText("live")).toBeNull();
  });

  it("cancels an active run", async () => {
    let status = "running";
    const fake = serve(new FakeApi("member"), () => run({ status, revision: status === "running" ? 2 : 3 }), () => STEPS.slice(0, 1)).on(
      "POST /v1/runs/:id/cancel",
      () => {
        status = "cancelled";
        return { body: run({ status: "cancelled", revision: 3 }) };
      },
    );
    page(fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Cancel run" }));
    expect(await screen.findByText("cancelled")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Cancel run" })).toBeNull();
    expect(fake.calls("POST", `/v1/runs/${RUN_ID}/cancel`)).toHaveLength(1);
  });

  it("approves a paused run with a comment", async () => {
    let status = "waiting_approval";
    const asking = step(1, "think", { text: "", tool_calls: [{ id: "c1", name: "request_approval", arguments: { reason: "Delete the old files?" } }] });
    const fake = serve(new FakeApi("operator"), () => run({ status }), () => [asking]).on("POST /v1/runs/:id/approve", () => {
      status = "running";
      return { body: run({ status: "running", revision: 5 }) };
    });
    page(fake);
    const request = await screen.findByRole("region", { name: "Waiting for approval" });
    expect(within(request).getByText(/Delete the old files\?/)).toBeTruthy();
    const user = userEvent.setup();
    await user.click(within(request).getByRole("button", { name: "Approve…" }));
    await user.type(within(request).getByLabelText("Comment (optional)"), "go ahead");
    await user.click(within(request).getByRole("button", { name: "Confirm approval" }));
    expect(fake.calls("POST", `/v1/runs/${RUN_ID}/approve`)[0].body).toEqual({ comment: "go ahead" });
    expect(await screen.findByText("running")).toBeTruthy();
  });

  it("rejects a paused run with a comment", async () => {
    let status = "waiting_approval";
    const fake = serve(new FakeApi("operator"), () => run({ status }), () => STEPS.slice(0, 1)).on("POST /v1/runs/:id/reject", () => {
      status = "failed";
      return { body: run({ status: "failed", revision: 5 }) };
    });
    page(fake);
    const request = await screen.findByRole("region", { name: "Waiting for approval" });
    const user = userEvent.setup();
    await user.click(within(request).getByRole("button", { name: "Reject…" }));
    await user.type(within(request).getByLabelText("Comment (optional)"), "not this time");
    await user.click(within(request).getByRole("button", { name: "Confirm rejection" }));
    expect(fake.calls("POST", `/v1/runs/${RUN_ID}/reject`)[0].body).toEqual({ comment: "not this time" });
    expect(fake.calls("POST", `/v1/runs/${RUN_ID}/approve`)).toHaveLength(0);
    expect(await screen.findByText("failed")).toBeTruthy();
  });

  it("a viewer sees the run but no buttons", async () => {
    const fake = serve(new FakeApi("viewer"), () => run({ status: "waiting_approval" }), () => STEPS.slice(0, 1));
    page(fake);
    await screen.findByRole("listitem", { name: "Step 1: Think" });
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.getByText(/An operator or admin can approve/)).toBeTruthy();
  });

  it("a member can cancel but not approve", async () => {
    const fake = serve(new FakeApi("member"), () => run({ status: "waiting_approval" }), () => STEPS.slice(0, 1));
    page(fake);
    expect(await screen.findByRole("button", { name: "Cancel run" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Approve…" })).toBeNull();
  });

  it("reruns a finished run with the same inputs", async () => {
    const finished = run({ status: "failed", env: { N: { type: "int", value: 3 } }, script: [{ tool: "finish", answer: "ok" }] });
    const fake = serve(new FakeApi("member"), () => finished, () => STEPS).on("POST /v1/runs", { status: 201, body: run({ id: "01RUN00000000000000000000B" }) });
    page(fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Rerun" }));
    const body = fake.calls("POST", "/v1/runs")[0].body as Record<string, unknown>;
    expect(body).toMatchObject({ agent_id: finished.agent_id, prompt: finished.prompt, env: finished.env, script: finished.script });
    expect(body.thread_id).toBeUndefined();
  });

  it("says so when the run does not exist", async () => {
    const fake = new FakeApi("admin").on("GET /v1/runs/:id", { status: 404, body: { error: { code: "not_found", message: "run not found", request_id: "r" } } });
    page(fake);
    expect((await screen.findByRole("alert")).textContent).toContain("run not found");
  });
});
