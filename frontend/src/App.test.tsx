import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { App } from "./App";
import { agent, apiError, FakeApi, meFor, renderWithApi, run } from "./test/fakeApi";

function withData(fake: FakeApi) {
  return fake
    .on("GET /v1/agents", { body: { items: [agent()], next_cursor: null } })
    .on("GET /v1/runs", { body: { items: [run({ status: "succeeded", ended_at: "2026-01-01T12:00:05Z" })], next_cursor: null } });
}

describe("sign in", () => {
  it("signs in with email and password and shows who is signed in", async () => {
    const fake = withData(new FakeApi("operator")).on("POST /v1/auth/login", {
      body: { access_token: "a", id_token: "i", refresh_token: "r", expires_in: 3600, token_type: "Bearer" },
    });
    renderWithApi(<App />, fake, { session: null, gate: false });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Email"), "op@example.com");
    await user.type(screen.getByLabelText("Password"), "correct horse");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("operator@example.com", { exact: false })).toBeTruthy();
    expect(fake.calls("GET", "/v1/me")[0].headers.Authorization).toBe("Bearer a");
  });

  it("shows the server's message for wrong credentials and stays on the form", async () => {
    const fake = new FakeApi(null).on("POST /v1/auth/login", apiError(401, "invalid_credentials", "the email or password is wrong"));
    renderWithApi(<App />, fake, { session: null, gate: false });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Email"), "op@example.com");
    await user.type(screen.getByLabelText("Password"), "nope");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("the email or password is wrong");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeTruthy();
  });

  it("goes back to the sign-in form when the session cannot be refreshed", async () => {
    const fake = new FakeApi(null)
      .on("GET /v1/me", apiError(401, "unauthorized", "expired"))
      .on("POST /v1/auth/refresh", apiError(401, "invalid_token", "expired"));
    renderWithApi(<App />, fake, { gate: false });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toMatch(/session has ended/);
  });

  it("signs out", async () => {
    renderWithApi(<App />, withData(new FakeApi("member")), { gate: false });
    await userEvent.setup().click(await screen.findByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
  });
});

describe("role-aware navigation", () => {
  it("a viewer sees no way to start runs, create agents or open settings", async () => {
    renderWithApi(<App />, withData(new FakeApi("viewer")), { gate: false });
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).queryByRole("link", { name: "New run" })).toBeNull();
    expect(within(nav).queryByRole("link", { name: "Settings" })).toBeNull();
    expect(await screen.findByRole("link", { name: /Summarise this CSV/ })).toBeTruthy();
    expect(screen.queryByRole("link", { name: "New run" })).toBeNull();
  });

  it("an admin sees settings and new run", async () => {
    renderWithApi(<App />, withData(new FakeApi("admin")), { gate: false });
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Settings" })).toBeTruthy();
    expect(within(nav).getByRole("link", { name: "New run" })).toBeTruthy();
  });

  it("everyone who can read them sees schedules and usage", async () => {
    renderWithApi(<App />, withData(new FakeApi("viewer")), { gate: false });
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Schedules" }).getAttribute("href")).toBe("/schedules");
    expect(within(nav).getByRole("link", { name: "Usage" }).getAttribute("href")).toBe("/usage");
  });

  it("follows the actions list, not the role name", async () => {
    const me = { ...meFor("viewer"), actions: [...meFor("viewer").actions, "providers.read"] };
    const fake = withData(new FakeApi(null)).on("GET /v1/me", { body: me });
    renderWithApi(<App />, fake, { gate: false });
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Settings" })).toBeTruthy();
  });
});
