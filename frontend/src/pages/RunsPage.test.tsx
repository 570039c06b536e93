import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { agent, apiError, FakeApi, renderWithApi, run } from "../test/fakeApi";
import { RunsPage } from "./RunsPage";

const other = agent({ id: "01AGENT0000000000000000001", name: "reporter" });

describe("runs list", () => {
  it("lists runs with status, agent name, duration and cost", async () => {
    const fake = new FakeApi("member")
      .on("GET /v1/agents", { body: { items: [agent(), other], next_cursor: null } })
      .on("GET /v1/runs", {
        body: {
          items: [
            run({ status: "succeeded", started_at: "2026-01-01T12:00:00Z", ended_at: "2026-01-01T12:00:04.500Z", usage: { steps: 4, input_tokens: 1, output_tokens: 1, cost_usd: 0.1234, sandbox_s: 1 } }),
          ],
          next_cursor: null,
        },
      });
    renderWithApi(<RunsPage />, fake);
    const row = (await screen.findByRole("link", { name: "Summarise this CSV and chart it" })).closest("tr")!;
    expect(within(row).getByText("succeeded")).toBeTruthy();
    expect(await within(row).findByText("demo-analyst")).toBeTruthy();
    expect(within(row).getByText("4.5 s")).toBeTruthy();
    expect(within(row).getByText("$0.12")).toBeTruthy();
  });

  it("shows the cost of a run that used an unpriced model as unknown, never as $0", async () => {
    const unpriced = { steps: 2, input_tokens: 10, output_tokens: 5, cost_usd: 0, cost_known: false, sandbox_s: 0 };
    const partly = { ...unpriced, cost_usd: 0.0012 };
    const fake = new FakeApi("member")
      .on("GET /v1/agents", { body: { items: [agent()], next_cursor: null } })
      .on("GET /v1/runs", {
        body: { items: [run({ prompt: "local model", usage: unpriced }), run({ id: "01RUN00000000000000000000B", prompt: "two models", usage: partly })], next_cursor: null },
      });
    renderWithApi(<RunsPage />, fake);
    const cost = async (prompt: string) => {
      const row = (await screen.findByRole("link", { name: prompt })).closest("tr")!;
      return row.querySelector('[data-label="Cost"] .cost-unknown') as HTMLElement;
    };
    const local = await cost("local model");
    expect(local.firstChild?.textContent).toBe("unknown (unpriced model)");
    expect(local.title).toMatch(/total cost is unknown/);
    const mixed = await cost("two models");
    expect(mixed.firstChild?.textContent).toBe("unknown (unpriced model; ≥ $0.0012)");
    expect(screen.queryByText("$0")).toBeNull();
  });

  it("filters by status and agent through the API", async () => {
    const fake = new FakeApi("member")
      .on("GET /v1/agents", { body: { items: [agent(), other], next_cursor: null } })
      .on("GET /v1/runs", { body: { items: [], next_cursor: null } });
    renderWithApi(<RunsPage />, fake);
    const user = userEvent.setup();
    await screen.findByText("No runs yet.", { exact: false });
    await user.selectOptions(screen.getByLabelText("Status"), "waiting_approval");
    await screen.findByRole("option", { name: "reporter" });
    await user.selectOptions(screen.getByLabelText("Agent"), "reporter");
    expect(await screen.findByText("No runs match these filters.")).toBeTruthy();
    const last = fake.calls("GET", "/v1/runs").at(-1)!;
    expect(last.query.get("status")).toBe("waiting_approval");
    expect(last.query.get("agent_id")).toBe(other.id);
  });

  it("shows an error with a way to try again", async () => {
    let fail = true;
    const fake = new FakeApi("member")
      .on("GET /v1/agents", { body: { items: [], next_cursor: null } })
      .on("GET /v1/runs", () => (fail ? apiError(500, "internal_error", "an internal error occurred") : { body: { items: [run()], next_cursor: null } }));
    renderWithApi(<RunsPage />, fake);
    expect((await screen.findByRole("alert")).textContent).toContain("an internal error occurred");
    fail = false;
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("link", { name: "Summarise this CSV and chart it" })).toBeTruthy();
  });

  it("loads older runs with the cursor", async () => {
    const fake = new FakeApi("viewer")
      .on("GET /v1/agents", { body: { items: [], next_cursor: null } })
      .on("GET /v1/runs", (r) =>
        r.query.get("cursor") === "c2"
          ? { body: { items: [run({ id: "01RUN00000000000000000000B", prompt: "older run" })], next_cursor: null } }
          : { body: { items: [run()], next_cursor: "c2" } },
      );
    renderWithApi(<RunsPage />, fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Load older runs" }));
    expect(await screen.findByRole("link", { name: "older run" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Load older runs" })).toBeNull();
  });
});
