import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import { FakeApi, renderWithApi } from "../test/fakeApi";
import { SettingsPage } from "./SettingsPage";

const KEY = { id: "01KEY", name: "ci", role: "member", prefix: "al_ab12", created_at: "2026-01-01T12:00:00Z", expires_at: null, last_used_at: null, revoked: false };

function page(fake: FakeApi, path: string) {
  return renderWithApi(
    <Routes>
      <Route path="/settings/*" element={<SettingsPage />} />
    </Routes>,
    fake,
    { path },
  );
}

describe("settings", () => {
  it("creates an API key and shows it once with a copy button", async () => {
    const keys = [KEY];
    const fake = new FakeApi("admin")
      .on("GET /v1/api-keys", () => ({ body: { items: keys, next_cursor: null } }))
      .on("POST /v1/api-keys", (r) => {
        const created = { ...KEY, id: "01KEY2", name: (r.body as { name: string }).name, prefix: "al_cd34" };
        keys.push(created);
        return { status: 201, body: { ...created, key: "al_cd34_secret-value" } };
      });
    page(fake, "/settings/api-keys");
    const user = userEvent.setup();
    const form = await screen.findByRole("form", { name: "Create an API key" });
    await user.type(within(form).getByLabelText("Name"), "deploy");
    await user.selectOptions(within(form).getByLabelText("Role"), "operator");
    await user.click(within(form).getByRole("button", { name: "Create key" }));
    expect((await screen.findByTestId("secret")).textContent).toBe("al_cd34_secret-value");
    expect(fake.calls("POST", "/v1/api-keys")[0].body).toEqual({ name: "deploy", role: "operator" });
    await user.click(screen.getByRole("button", { name: "Copy" }));
    expect(await navigator.clipboard.readText()).toBe("al_cd34_secret-value");
    expect(await screen.findByText("al_cd34…")).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("secret")).toBeNull();
  });

  it("rotates and revokes keys after confirmation", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const fake = new FakeApi("admin")
      .on("GET /v1/api-keys", { body: { items: [KEY], next_cursor: null } })
      .on("POST /v1/api-keys/:id/rotate", { body: { ...KEY, key: "al_ab12_rotated" } })
      .on("DELETE /v1/api-keys/:id", { body: { id: KEY.id, deleted: true } });
    page(fake, "/settings/api-keys");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Rotate ci" }));
    expect((await screen.findByTestId("secret")).textContent).toBe("al_ab12_rotated");
    await user.click(screen.getByRole("button", { name: "Revoke ci" }));
    expect(fake.calls("DELETE", `/v1/api-keys/${KEY.id}`)).toHaveLength(1);
  });

  it("adds a member, shows a generated password once, and changes roles", async () => {
    const member = { id: "01MEM", email: "ada@example.com", role: "member", created_at: "2026-01-01T12:00:00Z" };
    const fake = new FakeApi("admin")
      .on("GET /v1/members", { body: { items: [member], next_cursor: null } })
      .on("POST /v1/members", { status: 201, body: { ...member, id: "01MEM2", email: "bob@example.com", password: "generated-pass" } })
      .on("PATCH /v1/members/:id", (r) => ({ body: { ...member, ...(r.body as object) } }));
    page(fake, "/settings/members");
    const user = userEvent.setup();
    const form = await screen.findByRole("form", { name: "Add a member" });
    await user.type(within(form).getByLabelText("Email"), "bob@example.com");
    await user.click(within(form).getByRole("button", { name: "Add member" }));
    expect((await screen.findByTestId("secret")).textContent).toBe("generated-pass");
    expect(fake.calls("POST", "/v1/members")[0].body).toEqual({ email: "bob@example.com", role: "member" });
    await user.selectOptions(screen.getByLabelText("Role of ada@example.com"), "operator");
    expect(fake.calls("PATCH", "/v1/members/01MEM")[0].body).toEqual({ role: "operator" });
  });

  it("shows each provider's health", async () => {
    const fake = new FakeApi("admin").on("GET /v1/providers", {
      body: {
        items: [
          { name: "scripted", configured: true, healthy: true, detail: "built-in stand-in", models: ["scripted"], default: true },
          { name: "bedrock", configured: false, healthy: null, detail: null, models: [], default: false },
          { name: "openai", configured: true, healthy: false, detail: "connection refused", models: ["llama3"], default: false },
        ],
      },
    });
    page(fake, "/settings/providers");
    const scripted = (await screen.findByRole("heading", { name: /scripted/ })).closest("li")!;
    expect(within(scripted).getByText("healthy")).toBeTruthy();
    expect(within(scripted).getByText("default")).toBeTruthy();
    expect(within(screen.getByRole("heading", { name: /bedrock/ }).closest("li")!).getByText("not configured")).toBeTruthy();
    const openai = screen.getByRole("heading", { name: /openai/ }).closest("li")!;
    expect(within(openai).getByText("unhealthy")).toBeTruthy();
    expect(within(openai).getByText("connection refused")).toBeTruthy();
  });

  it("is closed to roles without the settings actions", async () => {
    page(new FakeApi("operator"), "/settings/api-keys");
    expect(await screen.findByText("Settings are for admins.")).toBeTruthy();
  });
});
