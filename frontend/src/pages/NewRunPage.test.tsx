import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { agent, apiError, FakeApi, renderWithApi, run } from "../test/fakeApi";
import { NewRunPage } from "./NewRunPage";

function page(fake: FakeApi) {
  return renderWithApi(
    <Routes>
      <Route path="/runs/new" element={<NewRunPage />} />
      <Route path="/runs/:id" element={<p>run page</p>} />
    </Routes>,
    fake,
    { path: "/runs/new" },
  );
}

function withAgents(fake: FakeApi) {
  return fake.on("GET /v1/agents", { body: { items: [agent()], next_cursor: null } });
}

function serveUploads(fake: FakeApi, complete: Parameters<FakeApi["on"]>[1]) {
  return fake
    .on("POST /v1/files", { status: 201, body: { file: { id: "01FILE" }, upload: { url: "http://dashboard.test/_s3/b", fields: { key: "k" }, expires_in_s: 900 } } })
    .on("POST /_s3/b", { status: 204 })
    .on("POST /v1/files/:id/complete", complete);
}

describe("new run", () => {
  it("starts a run with an uploaded file, typed env, a goal and budget overrides", async () => {
    const fake = serveUploads(withAgents(new FakeApi("member")), { body: { id: "01FILE", name: "sales.csv", status: "ready" } }).on("POST /v1/runs", {
      status: 201,
      body: run(),
    });
    page(fake);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "Summarise this CSV and chart it");
    await user.upload(screen.getByLabelText("Files"), new File(["month,sales\nJan,10\n"], "sales.csv", { type: "text/csv" }));
    expect(await screen.findByText("Ready")).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Add a variable" }));
    await user.type(screen.getByLabelText("Variable 1 name"), "rows");
    await user.selectOptions(screen.getByLabelText("Variable 1 type"), "int");
    await user.type(screen.getByLabelText("Variable 1 value"), "3");
    await user.type(screen.getByLabelText("Criterion, judged by the model"), "a chart exists");
    await user.type(screen.getByLabelText("Max steps"), "5");
    await user.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByText("run page")).toBeTruthy();
    const posted = fake.calls("POST", "/v1/runs")[0];
    expect(posted.body).toEqual({
      agent_id: agent().id,
      prompt: "Summarise this CSV and chart it",
      file_ids: ["01FILE"],
      env: { ROWS: { type: "int", value: 3 } },
      goal: { criterion: "a chart exists" },
      budget: { max_steps: 5 },
    });
    expect(posted.headers["Idempotency-Key"]).toMatch(/^[0-9a-f-]{32,36}$/);
  });

  it("sends no cost budget when the field is left blank, and says what the agent's blank budget means", async () => {
    const fake = withAgents(new FakeApi("member")).on("POST /v1/runs", { status: 201, body: run() });
    page(fake);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "go");
    expect((screen.getByLabelText("Max cost (USD)") as HTMLInputElement).placeholder).toBe("default (5)");
    expect((screen.getByLabelText("Max steps") as HTMLInputElement).placeholder).toBe("20");
    await user.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByText("run page")).toBeTruthy();
    expect(fake.calls("POST", "/v1/runs")[0].body).toEqual({ agent_id: agent().id, prompt: "go" });
  });

  it("refuses an unsupported file before uploading it", async () => {
    const fake = withAgents(new FakeApi("member"));
    page(fake);
    const user = userEvent.setup({ applyAccept: false });
    await user.upload(await screen.findByLabelText("Files"), new File(["%PDF-1.7"], "report.pdf", { type: "application/pdf" }));
    expect(await screen.findByText(/report.pdf: only PNG/)).toBeTruthy();
    expect(fake.calls("POST", "/v1/files")).toHaveLength(0);
    expect((screen.getByRole("button", { name: "Start run" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows the server's reason when it rejects an uploaded file", async () => {
    const fake = serveUploads(withAgents(new FakeApi("member")), apiError(422, "unsupported_file_type", "chart.png: the content is a PDF document, not image/png"));
    page(fake);
    await userEvent.setup().upload(await screen.findByLabelText("Files"), new File(["%PDF"], "chart.png", { type: "image/png" }));
    expect(await screen.findByText("chart.png: the content is a PDF document, not image/png")).toBeTruthy();
  });

  it("checks env values against their type before sending", async () => {
    const fake = withAgents(new FakeApi("member"));
    page(fake);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Add a variable" }));
    await user.type(screen.getByLabelText("Variable 1 name"), "LIMIT");
    await user.selectOptions(screen.getByLabelText("Variable 1 type"), "float");
    await user.type(screen.getByLabelText("Variable 1 value"), "abc");
    expect(screen.getByText("LIMIT must be a finite number.")).toBeTruthy();
    await user.clear(screen.getByLabelText("Variable 1 name"));
    await user.type(screen.getByLabelText("Variable 1 name"), "AWS_KEY");
    expect(screen.getByText("AWS_KEY is reserved by the platform.")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Start run" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows the server's validation error", async () => {
    const fake = withAgents(new FakeApi("member")).on("POST /v1/runs", apiError(422, "validation_error", "prompt: too long"));
    page(fake);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Prompt"), "x");
    await user.click(screen.getByRole("button", { name: "Start run" }));
    expect((await screen.findByRole("alert")).textContent).toContain("prompt: too long");
  });

  it("tells a viewer that they cannot start runs", async () => {
    page(withAgents(new FakeApi("viewer")));
    expect(await screen.findByText("Your role cannot start runs.")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Start run" })).toBeNull();
  });
});
