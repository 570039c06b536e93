import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { agent, apiError, FakeApi, renderWithApi } from "../test/fakeApi";
import { AgentEditor } from "./AgentEditor";

function page(fake: FakeApi, path: string) {
  return renderWithApi(
    <Routes>
      <Route path="/agents/new" element={<AgentEditor />} />
      <Route path="/agents/:agentId" element={<AgentEditor />} />
    </Routes>,
    fake,
    { path },
  );
}

describe("agent editor", () => {
  it("creates an agent with models per role, tools and limits", async () => {
    const fake = new FakeApi("operator")
      .on("POST /v1/agents", (r) => ({ status: 201, body: agent({ ...(r.body as object), id: "01AGENT0000000000000000009" }) }))
      .on("GET /v1/agents/:id", { body: agent({ name: "charts" }) })
      .on("GET /v1/agents/:id/versions", { body: { items: [agent({ name: "charts" })], next_cursor: null } });
    page(fake, "/agents/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "charts");
    const reasoning = screen.getByLabelText("Reasoning models");
    await user.clear(reasoning);
    await user.type(reasoning, "scripted, bedrock:anthropic.claude");
    await user.click(screen.getByRole("checkbox", { name: "request_approval" }));
    const steps = screen.getByLabelText("Max steps");
    await user.clear(steps);
    await user.type(steps, "7");
    await user.click(screen.getByRole("button", { name: "Create agent" }));
    const body = fake.calls("POST", "/v1/agents")[0].body as Record<string, unknown>;
    expect(body).toMatchObject({
      name: "charts",
      models: { reasoning: ["scripted", "bedrock:anthropic.claude"], code: [], vision: [] },
      tools: ["python", "list_files", "read_file", "finish"],
    });
    expect((body.limits as { max_steps: number }).max_steps).toBe(7);
    expect(await screen.findByRole("heading", { name: "Version history" })).toBeTruthy();
  });

  it("saves an edit as a new version guarded by the version it started from", async () => {
    let current = agent({ version: 2 });
    const fake = new FakeApi("operator")
      .on("GET /v1/agents/:id", () => ({ body: current }))
      .on("GET /v1/agents/:id/versions", () => ({ body: { items: [current, agent({ version: 1 })], next_cursor: null } }))
      .on("PUT /v1/agents/:id", (r) => {
        current = agent({ ...(r.body as object), version: 3 });
        return { body: current };
      });
    page(fake, `/agents/${agent().id}`);
    const user = userEvent.setup();
    const description = await screen.findByLabelText("Description");
    await user.clear(description);
    await user.type(description, "Charts things");
    await user.click(screen.getByRole("button", { name: "Save as a new version" }));
    expect(await screen.findByText("Saved as version 3.")).toBeTruthy();
    expect(fake.calls("PUT", `/v1/agents/${agent().id}`)[0].body).toMatchObject({ description: "Charts things", expected_version: 2 });
    expect(await screen.findByText(/^Version 3 ·/)).toBeTruthy();
  });

  it("shows a conflict from the server", async () => {
    const fake = new FakeApi("operator")
      .on("GET /v1/agents/:id", { body: agent() })
      .on("GET /v1/agents/:id/versions", { body: { items: [agent()], next_cursor: null } })
      .on("PUT /v1/agents/:id", apiError(409, "version_conflict", "the agent changed since version 1"));
    page(fake, `/agents/${agent().id}`);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Save as a new version" }));
    expect((await screen.findByRole("alert")).textContent).toContain("the agent changed since version 1");
  });

  it("leaves blank optional limits out, and sends the output limit, the critic mode and allowed calls", async () => {
    const fake = new FakeApi("operator")
      .on("POST /v1/agents", (r) => ({ status: 201, body: agent({ ...(r.body as object), id: "01AGENT0000000000000000009" }) }))
      .on("GET /v1/agents/:id", { body: agent() })
      .on("GET /v1/agents/:id/versions", { body: { items: [agent()], next_cursor: null } });
    page(fake, "/agents/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "trusted");
    const cost = screen.getByLabelText("Max cost (USD)") as HTMLInputElement;
    expect(cost.value).toBe("");
    expect(cost.required).toBe(false);
    expect(screen.getByRole("spinbutton", { name: "Max cost (USD)", description: /default budget \(USD 5\) where costs are known/ })).toBe(cost);
    expect((screen.getByLabelText("Cell timeout (s)") as HTMLInputElement).max).toBe("600");
    await user.type(screen.getByLabelText("Max output tokens per reply"), "2048");
    expect((screen.getByRole("radio", { name: "enforce (default)" }) as HTMLInputElement).checked).toBe(true);
    const off = screen.getByRole("radio", { name: "off", description: /the sandbox still contains the code/ });
    expect(screen.getByRole("radio", { name: "warn", description: /runs anyway/ })).toBeTruthy();
    await user.click(off);
    await user.type(screen.getByLabelText(/^Allowed calls/), "os.system, subprocess.*");
    await user.click(screen.getByRole("button", { name: "Create agent" }));
    await screen.findByRole("heading", { name: "Version history" });
    const body = fake.calls("POST", "/v1/agents")[0].body as { limits: Record<string, unknown>; critic: Record<string, unknown> };
    expect("max_cost_usd" in body.limits).toBe(false);
    expect(body.limits.max_output_tokens).toBe(2048);
    expect(body.critic).toEqual({ mode: "off", allow_imports: [], forbid_imports: [], allow_calls: ["os.system", "subprocess.*"] });
  });

  it("sends a cost budget that is set, and shows the server's refusal when a model has no price", async () => {
    const message =
      "limits.max_cost_usd is set, but openai:llama3.1:8b has no price, so the budget could not be checked: leave the cost budget unset, choose priced models, or have the deployment configure a price (AGENTLAB_MODEL_PRICES)";
    const fake = new FakeApi("operator").on("POST /v1/agents", apiError(422, "unpriced_model", message));
    page(fake, "/agents/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "local");
    const reasoning = screen.getByLabelText("Reasoning models");
    await user.clear(reasoning);
    await user.type(reasoning, "openai:llama3.1:8b");
    const cost = screen.getByLabelText("Max cost (USD)");
    await user.type(cost, "2");
    await user.click(screen.getByRole("button", { name: "Create agent" }));
    expect((await screen.findByRole("alert")).textContent).toContain(message);
    expect((fake.calls("POST", "/v1/agents")[0].body as { limits: Record<string, unknown> }).limits.max_cost_usd).toBe(2);
    expect(cost.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByRole("spinbutton", { name: "Max cost (USD)", description: /has no price/ })).toBe(cost);
  });

  it("starts an existing agent's form from its critic mode and blank optional limits", async () => {
    const existing = agent({ critic: { mode: "warn", allow_imports: ["requests"], forbid_imports: [], allow_calls: ["os.system"] } });
    const fake = new FakeApi("operator")
      .on("GET /v1/agents/:id", { body: existing })
      .on("GET /v1/agents/:id/versions", { body: { items: [existing], next_cursor: null } })
      .on("PUT /v1/agents/:id", (r) => ({ body: agent({ ...(r.body as object), version: 2 }) }));
    page(fake, `/agents/${agent().id}`);
    const user = userEvent.setup();
    expect((await screen.findByRole("radio", { name: "warn" }) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText(/^Allowed calls/) as HTMLInputElement).value).toBe("os.system");
    expect((screen.getByLabelText("Max output tokens per reply") as HTMLInputElement).value).toBe("");
    await user.click(screen.getByRole("button", { name: "Save as a new version" }));
    expect(await screen.findByText("Saved as version 2.")).toBeTruthy();
    const body = fake.calls("PUT", `/v1/agents/${agent().id}`)[0].body as { limits: Record<string, unknown>; critic: unknown };
    expect(body.critic).toEqual({ mode: "warn", allow_imports: ["requests"], forbid_imports: [], allow_calls: ["os.system"] });
    expect(Object.keys(body.limits)).not.toContain("max_cost_usd");
    expect(Object.keys(body.limits)).not.toContain("max_output_tokens");
  });

  it("is read-only for a viewer", async () => {
    const fake = new FakeApi("viewer")
      .on("GET /v1/agents/:id", { body: agent() })
      .on("GET /v1/agents/:id/versions", { body: { items: [agent()], next_cursor: null } });
    page(fake, `/agents/${agent().id}`);
    expect((await screen.findByLabelText("Name")).matches(":disabled")).toBe(true);
    expect(screen.queryByRole("button", { name: /Save/ })).toBeNull();
  });
});
