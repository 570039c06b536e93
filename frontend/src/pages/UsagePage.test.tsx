import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { UsageChartsProps } from "../components/UsageCharts";
import { costByDay, runsByStatus, summarise, tokensByModel } from "../lib/usageCharts";
import { apiError, FakeApi, renderWithApi, type Recorded } from "../test/fakeApi";
import { defaultRange, UsagePage } from "./UsagePage";

// The real charts draw on a canvas, which jsdom has not; the stand-in shows what they were given.
vi.mock("../components/UsageCharts", () => ({
  default: ({ days, models, total }: UsageChartsProps) => (
    <div data-testid="charts">
      charts of {days.length} days, {models.length} models, {total.runs.succeeded} succeeded runs
    </div>
  ),
}));

function figures(overrides: Record<string, unknown> = {}) {
  return {
    input_tokens: 1200,
    output_tokens: 300,
    cost: { model: 0.5, sandbox: 0.02, orchestration: 0.01, lambda: 0.001, storage: 0.0005, total: 0.5315 },
    cost_known: true,
    runs: { succeeded: 3, failed: 1, cancelled: 0, budget_exceeded: 1 },
    sandbox_seconds: 95,
    state_transitions: 120,
    ...overrides,
  };
}

const BUDGET = { monthly_usd: 10, month: "2026-01", spent_usd: 8.5, alerts_sent: [50, 80] };

function report(groupBy: string, groups: Record<string, unknown>[], budget: Record<string, unknown> = BUDGET) {
  return { from: "2026-01-01", to: "2026-01-31", group_by: groupBy, currency: "USD", total: figures(), groups, budget };
}

const GROUPS: Record<string, Record<string, unknown>[]> = {
  day: [
    { key: "2026-01-01", label: "2026-01-01", ...figures() },
    { key: "2026-01-02", label: "2026-01-02", ...figures({ cost_known: false }) },
  ],
  model: [{ key: "bedrock:claude", label: "bedrock:claude", ...figures() }],
  agent: [{ key: "01AGENT", label: "demo-analyst", ...figures() }],
};

function serveUsage(fake: FakeApi, budget: Record<string, unknown> = BUDGET) {
  return fake.on("GET /v1/usage", (request: Recorded) => {
    const group = request.query.get("group_by") ?? "day";
    return { body: report(group, GROUPS[group] ?? [], budget) };
  });
}

function page(fake: FakeApi, path = "/usage?from=2026-01-01&to=2026-01-31") {
  return renderWithApi(<UsagePage />, fake, { path });
}

describe("usage page", () => {
  it("shows totals, the cost per component, the charts and the table for the range", async () => {
    const fake = serveUsage(new FakeApi("viewer"));
    page(fake);
    const totals = await screen.findByRole("list", { name: "Totals" });
    expect(within(totals).getByText("$0.53")).toBeTruthy();
    expect(within(totals).getByText("1200 in · 300 out")).toBeTruthy();
    expect(within(totals).getByText("5")).toBeTruthy();
    expect(within(totals).getByText("1 min 35 s")).toBeTruthy();
    const components = screen.getByRole("table", { name: "Cost by component" });
    expect(within(components).getByText("$0.02")).toBeTruthy();
    expect(within(components).getByText("$0.0010")).toBeTruthy();
    expect((await screen.findByTestId("charts")).textContent).toContain("charts of 2 days, 1 models, 3 succeeded runs");
    const byDay = screen.getByRole("table", { name: "Usage by day" });
    const rows = within(byDay).getAllByRole("row");
    expect(rows).toHaveLength(3);
    // A day with an unpriced model says its cost is unknown rather than showing a figure that looks complete.
    expect(rows[1].textContent).not.toContain("unknown");
    expect(rows[2].textContent).toContain("unknown (unpriced model; ≥ $0.53)");
    // The charts' days and models are asked for once each.
    expect(fake.calls("GET", "/v1/usage").map((r) => [r.query.get("group_by"), r.query.get("from"), r.query.get("to")])).toEqual([
      ["day", "2026-01-01", "2026-01-31"],
      ["model", "2026-01-01", "2026-01-31"],
    ]);
  });

  it("groups the table by the chosen dimension", async () => {
    const fake = serveUsage(new FakeApi("viewer"));
    page(fake);
    await screen.findByRole("table", { name: "Usage by day" });
    await userEvent.setup().selectOptions(screen.getByLabelText("Group by"), "agent");
    const byAgent = await screen.findByRole("table", { name: "Usage by agent" });
    expect(within(byAgent).getByText("demo-analyst")).toBeTruthy();
    expect(fake.calls("GET", "/v1/usage").some((r) => r.query.get("group_by") === "agent")).toBe(true);
  });

  it("refuses a range that ends before it starts and asks nothing", async () => {
    const fake = serveUsage(new FakeApi("viewer"));
    page(fake, "/usage?from=2026-02-01&to=2026-01-01");
    expect((await screen.findByRole("alert")).textContent).toBe("The start date is after the end date.");
    expect(fake.calls("GET", "/v1/usage")).toHaveLength(0);
  });

  it("asks again when a date changes", async () => {
    const fake = serveUsage(new FakeApi("viewer"));
    page(fake);
    await screen.findByRole("table", { name: "Usage by day" });
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-01-15" } });
    await waitFor(() => expect(fake.calls("GET", "/v1/usage").some((r) => r.query.get("from") === "2026-01-15")).toBe(true));
  });

  it("starts from the first of the month", () => {
    expect(defaultRange(new Date("2026-03-17T10:00:00Z"))).toEqual({ from: "2026-03-01", to: "2026-03-17" });
  });

  it("shows the server's error", async () => {
    const fake = new FakeApi("viewer").on("GET /v1/usage", apiError(422, "validation_error", "from: the range is longer than 366 days"));
    page(fake);
    expect((await screen.findByRole("alert")).textContent).toContain("the range is longer than 366 days");
  });
});

describe("monthly budget", () => {
  it("shows the spend, the alerts sent, and no form to a viewer", async () => {
    page(serveUsage(new FakeApi("viewer")));
    expect(await screen.findByText("$8.50 of $10.00 spent (85 %).")).toBeTruthy();
    const alerts = screen.getByRole("list", { name: "Alerts" });
    expect(within(alerts).getByText("50 %: alert sent")).toBeTruthy();
    expect(within(alerts).getByText("80 %: alert sent")).toBeTruthy();
    expect(within(alerts).getByText("100 %: not reached")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Save budget" })).toBeNull();
    expect(screen.getByText("An admin sets the monthly budget.")).toBeTruthy();
  });

  it("lets an admin set the budget", async () => {
    const fake = serveUsage(new FakeApi("admin"), { ...BUDGET, monthly_usd: null, alerts_sent: [] }).on("PUT /v1/usage/budget", (request) => ({
      body: { ...BUDGET, monthly_usd: (request.body as { monthly_usd: number }).monthly_usd, alerts_sent: [] },
    }));
    page(fake);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Set a monthly budget (USD)"), "25");
    await user.click(screen.getByRole("button", { name: "Save budget" }));
    expect(await screen.findByText("$8.50 of $25.00 spent (34 %).")).toBeTruthy();
    expect(fake.calls("PUT", "/v1/usage/budget")[0].body).toEqual({ monthly_usd: 25 });
  });

  it("removes the budget only after confirming", async () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const fake = serveUsage(new FakeApi("admin")).on("PUT /v1/usage/budget", { body: { ...BUDGET, monthly_usd: null } });
    page(fake);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Remove the budget" }));
    expect(fake.calls("PUT", "/v1/usage/budget")).toHaveLength(0);
    confirm.mockReturnValue(true);
    await user.click(screen.getByRole("button", { name: "Remove the budget" }));
    expect(await screen.findByText(/No monthly budget is set/)).toBeTruthy();
    expect(fake.calls("PUT", "/v1/usage/budget")[0].body).toEqual({ monthly_usd: null });
  });

  it("shows the server's refusal", async () => {
    const fake = serveUsage(new FakeApi("admin")).on("PUT /v1/usage/budget", apiError(403, "forbidden", "only admins set the budget"));
    page(fake);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Change the monthly budget (USD)"), "5");
    await user.click(screen.getByRole("button", { name: "Save budget" }));
    expect((await screen.findByRole("alert")).textContent).toContain("only admins set the budget");
  });
});

describe("chart data", () => {
  const day = (key: string, model: number) => ({ key, label: key, ...figures({ cost: { model, sandbox: 1, orchestration: 0, lambda: 0, storage: 0, total: model + 1 } }) });

  it("stacks the cost per day by component, in date order", () => {
    const data = costByDay([day("2026-01-02", 2), day("2026-01-01", 5)]);
    expect(data.labels).toEqual(["2026-01-01", "2026-01-02"]);
    expect(data.series.map((s) => s.label)).toEqual(["Model", "Sandbox", "Orchestration", "Lambda", "Storage"]);
    expect(data.series[0].values).toEqual([5, 2]);
    expect(data.series[1].values).toEqual([1, 1]);
  });

  it("puts the model with the most tokens first and counts runs by status", () => {
    const small = { key: "a", label: "a", ...figures({ input_tokens: 1, output_tokens: 1 }) };
    const large = { key: "b", label: "b", ...figures({ input_tokens: 10, output_tokens: 5 }) };
    expect(tokensByModel([small, large]).labels).toEqual(["b", "a"]);
    expect(runsByStatus({ succeeded: 3, failed: 1, cancelled: 0, budget_exceeded: 2 }).series[0].values).toEqual([3, 1, 0, 2]);
  });

  it("describes a chart in words", () => {
    expect(summarise(costByDay([]), "USD")).toBe("No USD in this range.");
    expect(summarise(runsByStatus({ succeeded: 3, failed: 1, cancelled: 0, budget_exceeded: 0 }), "runs")).toContain("Runs: 4 runs");
  });
});
