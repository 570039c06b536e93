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

  it("is read-only for a viewer", async () => {
    const fake = new FakeApi("viewer")
      .on("GET /v1/agents/:id", { body: agent() })
      .on("GET /v1/agents/:id/versions", { body: { items: [agent()], next_cursor: null } });
    page(fake, `/agents/${agent().id}`);
    expect((await screen.findByLabelText("Name")).matches(":disabled")).toBe(true);
    expect(screen.queryByRole("button", { name: /Save/ })).toBeNull();
  });
});
