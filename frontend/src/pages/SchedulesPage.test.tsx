import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { fieldErrors } from "../lib/schedules";
import { ApiError } from "../api/client";
import { agent, apiError, FakeApi, renderWithApi, run, schedule } from "../test/fakeApi";
import { ScheduleEditor } from "./ScheduleEditor";
import { SchedulePage } from "./SchedulePage";
import { SchedulesPage } from "./SchedulesPage";

const SCHEDULE_ID = schedule().id as string;
const PREVIEW = { description: "Every 2 hours", next_fires: ["2026-01-01T14:00:00Z", "2026-01-01T16:00:00Z", "2026-01-01T18:00:00Z", "2026-01-01T20:00:00Z", "2026-01-01T22:00:00Z"] };

function pages(fake: FakeApi, path: string) {
  return renderWithApi(
    <Routes>
      <Route path="/schedules" element={<SchedulesPage />} />
      <Route path="/schedules/new" element={<ScheduleEditor />} />
      <Route path="/schedules/:scheduleId" element={<SchedulePage />} />
      <Route path="/schedules/:scheduleId/edit" element={<ScheduleEditor />} />
      <Route path="/runs/:id" element={<p>run page</p>} />
    </Routes>,
    fake,
    { path },
  );
}

/** One input event per field: typing key by key is kept for the expression, whose preview is debounced. */
async function fill(user: ReturnType<typeof userEvent.setup>, label: string | RegExp, text: string) {
  const field = screen.getByLabelText(label);
  await user.clear(field);
  await user.click(field);
  await user.paste(text);
}

function withAgents(fake: FakeApi) {
  return fake.on("GET /v1/agents", { body: { items: [agent({ version: 4 })], next_cursor: null } });
}

describe("schedules list", () => {
  it("shows each schedule's status, description, next fire and agent", async () => {
    const fake = withAgents(new FakeApi("viewer")).on("GET /v1/schedules", {
      body: {
        items: [schedule(), schedule({ id: "01SCHED000000000000000000B", name: "weekly", status: "paused", paused_reason: "3 failed runs in a row" })],
        next_cursor: null,
      },
    });
    pages(fake, "/schedules");
    const first = (await screen.findByRole("link", { name: "nightly-report" })).closest("tr")!;
    expect(within(first).getByText("active").className).toContain("schedule-active");
    expect(within(first).getByText("At 06:00 AM")).toBeTruthy();
    expect(within(first).getByText("demo-analyst")).toBeTruthy();
    expect(within(first).getByText(/cron\(0 6 \* \* \? \*\) · Europe\/Paris/)).toBeTruthy();
    const second = screen.getByRole("link", { name: "weekly" }).closest("tr")!;
    expect(within(second).getByText("paused").className).toContain("schedule-paused");
    expect(within(second).getByText("3 failed runs in a row")).toBeTruthy();
    // A viewer reads schedules but cannot create one.
    expect(screen.queryByRole("link", { name: "New schedule" })).toBeNull();
  });

  it("follows the cursor for more schedules", async () => {
    const fake = withAgents(new FakeApi("operator")).on("GET /v1/schedules", (request) =>
      request.query.get("cursor")
        ? { body: { items: [schedule({ id: "01SCHED000000000000000000B", name: "older" })], next_cursor: null } }
        : { body: { items: [schedule()], next_cursor: "c1" } },
    );
    pages(fake, "/schedules");
    await userEvent.setup().click(await screen.findByRole("button", { name: "Load more schedules" }));
    expect(await screen.findByRole("link", { name: "older" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Load more schedules" })).toBeNull();
  });
});

describe("schedule form", () => {
  it("shows the description and next fires as the expression is typed, then creates the schedule with every field", async () => {
    const fake = withAgents(new FakeApi("operator"))
      .on("POST /v1/schedules/preview", (request) => {
        const { expression } = request.body as { expression: string };
        return expression === "rate(2 hours)" ? { body: PREVIEW } : apiError(422, "invalid_expression", `cannot read ${expression}`);
      })
      .on("POST /v1/schedules", { status: 201, body: schedule() })
      .on("GET /v1/schedules/:id", { body: schedule() })
      .on("GET /v1/schedules/:id/fires", { body: { items: [], next_cursor: null } });
    pages(fake, "/schedules/new");
    const user = userEvent.setup();
    await screen.findByLabelText("Name");
    await fill(user, "Name", "every-two-hours");
    await user.type(screen.getByLabelText("Expression"), "rate(2 hours)");
    expect(await screen.findByText("Every 2 hours", undefined, { timeout: 3000 })).toBeTruthy();
    expect(within(screen.getByRole("list", { name: "Next fires" })).getAllByRole("listitem")).toHaveLength(5);
    // The typing was debounced: one preview for the whole expression, not one per key.
    const previews = fake.calls("POST", "/v1/schedules/preview");
    expect(previews.length).toBeLessThan("rate(2 hours)".length);
    expect(previews[previews.length - 1].body).toEqual({ expression: "rate(2 hours)", timezone: "UTC" });

    await fill(user, "Timezone", "Europe/Paris");
    await fill(user, "Agent version", "4");
    await fill(user, "Prompt", "Summarise the sales");
    await user.click(screen.getByRole("button", { name: "Add a variable" }));
    await fill(user, "Variable 1 name", "rows");
    await user.selectOptions(screen.getByLabelText("Variable 1 type"), "int");
    await fill(user, "Variable 1 value", "3");
    await fill(user, "Criterion, judged by the model", "a table exists");
    await fill(user, "Max steps per run", "8");
    await fill(user, "Max runs per day", "4");
    await fill(user, "Max cost per day (USD)", "2.5");
    await fill(user, "Max sandbox minutes per day", "30");
    await fill(user, "Pause after this many failed runs in a row", "5");
    await user.click(screen.getByLabelText(/^Enabled/));
    await user.click(screen.getByRole("button", { name: "Create schedule" }));

    expect(await screen.findByRole("heading", { name: "nightly-report" })).toBeTruthy();
    expect(fake.calls("POST", "/v1/schedules")[0].body).toEqual({
      name: "every-two-hours",
      agent_id: agent().id,
      agent_version: 4,
      prompt: "Summarise the sales",
      expression: "rate(2 hours)",
      timezone: "Europe/Paris",
      env: { ROWS: { type: "int", value: 3 } },
      goal: { criterion: "a table exists" },
      budget: { max_steps: 8 },
      enabled: false,
      daily_budget: { max_runs: 4, max_cost_usd: 2.5, max_sandbox_minutes: 30 },
      auto_pause_after: 5,
    });
  });

  it("shows the preview's reason under the expression and the server's reasons under their fields", async () => {
    const fake = withAgents(new FakeApi("operator"))
      .on("POST /v1/schedules/preview", apiError(422, "invalid_expression", "cron needs 6 fields, got 5"))
      .on("POST /v1/schedules", apiError(422, "validation_error", "name: String should have at most 100 characters; daily_budget.max_runs: Input should be greater than or equal to 1"));
    pages(fake, "/schedules/new");
    const user = userEvent.setup();
    await screen.findByLabelText("Expression");
    await fill(user, "Expression", "cron(0 6 * * *)");
    expect(await screen.findByText("cron needs 6 fields, got 5", undefined, { timeout: 3000 })).toBeTruthy();
    expect(screen.getByLabelText("Expression").getAttribute("aria-invalid")).toBe("true");

    await fill(user, "Name", "n");
    await fill(user, "Prompt", "go");
    await user.click(screen.getByRole("button", { name: "Create schedule" }));
    const nameError = await screen.findByText("String should have at most 100 characters");
    expect(screen.getByLabelText("Name").getAttribute("aria-describedby")).toBe(nameError.id);
    expect(screen.getByText("Input should be greater than or equal to 1").id).toBe(
      screen.getByLabelText("Max runs per day").getAttribute("aria-describedby"),
    );
  });

  it("checks the form in the browser before sending", async () => {
    const fake = withAgents(new FakeApi("operator"));
    pages(fake, "/schedules/new");
    const user = userEvent.setup();
    await screen.findByLabelText("Max runs per day");
    await fill(user, "Max runs per day", "0");
    await user.click(screen.getByRole("button", { name: "Create schedule" }));
    expect(screen.getByText("Give the schedule a name.")).toBeTruthy();
    expect(screen.getByText("Say what each run should do.")).toBeTruthy();
    expect(screen.getByText(/Say when it fires/)).toBeTruthy();
    expect(screen.getByText("Max runs per day: a whole number from 1 to 10000.")).toBeTruthy();
    expect(fake.calls("POST", "/v1/schedules")).toHaveLength(0);
  });

  it("edits a schedule by sending only what changed, at the revision it was loaded at", async () => {
    const original = schedule({ daily_budget: { max_runs: 2, max_cost_usd: null, max_sandbox_minutes: null }, goal: { criterion: "done" } });
    const fake = withAgents(new FakeApi("operator"))
      .on("GET /v1/schedules/:id", { body: original })
      .on("GET /v1/schedules/:id/fires", { body: { items: [], next_cursor: null } })
      .on("POST /v1/schedules/preview", { body: PREVIEW })
      .on("PATCH /v1/schedules/:id", { body: schedule({ revision: 3 }) });
    pages(fake, `/schedules/${SCHEDULE_ID}/edit`);
    const user = userEvent.setup();
    const runs = await screen.findByLabelText("Max runs per day");
    expect((runs as HTMLInputElement).value).toBe("2");
    await user.clear(runs);
    await user.clear(screen.getByLabelText("Criterion, judged by the model"));
    await fill(user, "Expression", "rate(2 hours)");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await screen.findByRole("heading", { name: "nightly-report" });
    expect(fake.calls("PATCH", `/v1/schedules/${SCHEDULE_ID}`)[0].body).toEqual({
      expected_revision: 2,
      expression: "rate(2 hours)",
      goal: {},
      daily_budget: {},
    });
  });

  it("tells a viewer that they cannot create schedules", async () => {
    pages(withAgents(new FakeApi("viewer")), "/schedules/new");
    expect(await screen.findByText("Your role cannot create or change schedules.")).toBeTruthy();
  });
});

describe("schedule page", () => {
  function withSchedule(fake: FakeApi, overrides: Record<string, unknown> = {}) {
    return withAgents(fake)
      .on("GET /v1/schedules/:id", { body: schedule(overrides) })
      .on("GET /v1/schedules/:id/fires", {
        body: {
          items: [
            { schedule_id: SCHEDULE_ID, scheduled_time: "2026-01-01T05:00:00Z", recorded_at: "2026-01-01T05:00:01Z", outcome: "started", reason: null, run_id: "01RUN00000000000000000000A" },
            { schedule_id: SCHEDULE_ID, scheduled_time: "2025-12-31T05:00:00Z", recorded_at: "2025-12-31T05:00:01Z", outcome: "skipped", reason: "daily_budget", run_id: null },
          ],
          next_cursor: null,
        },
      });
  }

  it("shows status, failures, description, next fires and a fire history linking to runs", async () => {
    pages(withSchedule(new FakeApi("viewer"), { consecutive_failures: 2 }), `/schedules/${SCHEDULE_ID}`);
    expect(await screen.findByRole("heading", { name: "nightly-report" })).toBeTruthy();
    expect(screen.getByText("2 (pauses at 3)")).toBeTruthy();
    expect(screen.getByText("At 06:00 AM")).toBeTruthy();
    expect(screen.getByText("latest version", { exact: false })).toBeTruthy();
    const history = await screen.findByRole("table", { name: "Fire history" });
    const link = within(history).getByRole("link", { name: "01RUN00000000000000000000A" });
    expect(link.getAttribute("href")).toBe("/runs/01RUN00000000000000000000A");
    expect(within(history).getByText("skipped (daily budget)")).toBeTruthy();
    // A viewer sees no controls.
    expect(screen.queryByRole("button", { name: "Pause" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Delete" })).toBeNull();
  });

  it("pauses with a reason after confirming, then resumes", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const fake = withSchedule(new FakeApi("operator"))
      .on("POST /v1/schedules/:id/pause", { body: schedule({ status: "paused", paused_reason: "holiday" }) })
      .on("POST /v1/schedules/:id/resume", { body: schedule() });
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Pause" }));
    await user.type(screen.getByLabelText(/Why pause it/), "holiday");
    await user.click(screen.getByRole("button", { name: "Pause schedule" }));
    expect(await screen.findByText("paused — holiday")).toBeTruthy();
    expect(fake.calls("POST", `/v1/schedules/${SCHEDULE_ID}/pause`)[0].body).toEqual({ reason: "holiday" });

    await user.click(screen.getByRole("button", { name: "Resume" }));
    expect(await screen.findByRole("button", { name: "Pause" })).toBeTruthy();
    expect(fake.calls("POST", `/v1/schedules/${SCHEDULE_ID}/resume`)).toHaveLength(1);
  });

  it("cancelling the pause form sends nothing", async () => {
    const fake = withSchedule(new FakeApi("operator"));
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Pause" }));
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("button", { name: "Pause schedule" })).toBeNull();
    expect(fake.calls("POST", `/v1/schedules/${SCHEDULE_ID}/pause`)).toHaveLength(0);
  });

  it("runs now after confirming and links to the run", async () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(true);
    const fake = withSchedule(new FakeApi("operator")).on("POST /v1/schedules/:id/run-now", { status: 201, body: run({ status: "queued" }) });
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Run now" }));
    expect(confirm).toHaveBeenCalled();
    await user.click(await screen.findByRole("link", { name: "Open the run" }));
    expect(await screen.findByText("run page")).toBeTruthy();
  });

  it("deletes only after confirming", async () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const fake = withSchedule(new FakeApi("operator"))
      .on("DELETE /v1/schedules/:id", { status: 204 })
      .on("GET /v1/schedules", { body: { items: [], next_cursor: null } });
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Delete" }));
    expect(fake.calls("DELETE", `/v1/schedules/${SCHEDULE_ID}`)).toHaveLength(0);
    confirm.mockReturnValue(true);
    await user.click(screen.getByRole("button", { name: "Delete" }));
    expect(await screen.findByText("No schedules yet.", { exact: false })).toBeTruthy();
    expect(fake.calls("DELETE", `/v1/schedules/${SCHEDULE_ID}`)).toHaveLength(1);
  });

  it("shows the server's refusal of an action", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const fake = withSchedule(new FakeApi("operator")).on("POST /v1/schedules/:id/run-now", apiError(429, "daily_budget", "the daily run limit is reached"));
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Run now" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("the daily run limit is reached"));
  });

  it("says when another org's or a deleted schedule is not found", async () => {
    const fake = withAgents(new FakeApi("viewer"))
      .on("GET /v1/schedules/:id", apiError(404, "not_found", "schedule not found"))
      .on("GET /v1/schedules/:id/fires", apiError(404, "not_found", "schedule not found"));
    pages(fake, `/schedules/${SCHEDULE_ID}`);
    expect((await screen.findByRole("alert")).textContent).toContain("schedule not found");
  });
});

describe("fieldErrors", () => {
  it("puts expression and timezone errors on their fields and splits validation messages by field", () => {
    expect(fieldErrors(new ApiError(422, "invalid_timezone", "unknown timezone Mars/Base"))).toEqual({ timezone: "unknown timezone Mars/Base" });
    expect(fieldErrors(new ApiError(422, "validation_error", "env.rows: bad name; prompt: too long"))).toEqual({ "env.rows": "bad name", prompt: "too long" });
    expect(fieldErrors(new ApiError(409, "conflict", "changed meanwhile"))).toEqual({});
  });
});
