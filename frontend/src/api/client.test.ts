import { describe, expect, it } from "vitest";
import { apiError, FakeApi } from "../test/fakeApi";
import { ApiClient, ApiError, errorMessage, loadConfig, memorySessionStore } from "./client";

function client(fake: FakeApi, refreshToken: string | null = "refresh-1") {
  const store = memorySessionStore({ accessToken: "old", refreshToken, expiresAt: Date.now() + 3_600_000, kind: "password" });
  return { api: new ApiClient("https://api.example.com/", store, fake.fetch), store };
}

describe("ApiClient", () => {
  it("sends the bearer token and reads the one error shape", async () => {
    const fake = new FakeApi(null).on("GET /v1/runs", () => ({ ...apiError(429, "rate_limited", "slow down"), headers: { "Retry-After": "7" } }));
    const { api } = client(fake);
    const error = await api.get("/v1/runs").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 429, code: "rate_limited", requestId: "req-1", retryAfterS: 7 });
    expect(errorMessage(error)).toBe("slow down Try again in 7 s.");
    expect(fake.requests[0].headers.Authorization).toBe("Bearer old");
  });

  it("refreshes once on a 401 and retries with the new token", async () => {
    const fake = new FakeApi(null)
      .on("GET /v1/agents", (r) => (r.headers.Authorization === "Bearer new" ? { body: { items: [], next_cursor: null } } : apiError(401, "unauthorized", "expired")))
      .on("POST /v1/auth/refresh", { body: { access_token: "new", id_token: "id", refresh_token: null, expires_in: 3600, token_type: "Bearer" } });
    const { api, store } = client(fake);
    await expect(api.get("/v1/agents")).resolves.toEqual({ items: [], next_cursor: null });
    expect(fake.calls("POST", "/v1/auth/refresh")[0].body).toEqual({ refresh_token: "refresh-1" });
    expect(store.load()).toMatchObject({ accessToken: "new", refreshToken: "refresh-1" });
  });

  it("signs out when the refresh fails too", async () => {
    const fake = new FakeApi(null)
      .on("GET /v1/agents", apiError(401, "unauthorized", "expired"))
      .on("POST /v1/auth/refresh", apiError(401, "invalid_token", "refresh token expired"));
    const { api, store } = client(fake);
    const seen: unknown[] = [];
    api.subscribe((session) => seen.push(session));
    await expect(api.get("/v1/agents")).rejects.toMatchObject({ status: 401, code: "session_expired" });
    expect(store.load()).toBeNull();
    expect(seen).toEqual([null]);
    expect(fake.calls("GET", "/v1/agents")).toHaveLength(1);
  });

  it("does not refresh an API key session", async () => {
    const fake = new FakeApi(null).on("GET /v1/agents", apiError(401, "unauthorized", "bad key"));
    const { api } = client(fake, null);
    await expect(api.get("/v1/agents")).rejects.toMatchObject({ code: "session_expired" });
    expect(fake.calls("POST", "/v1/auth/refresh")).toHaveLength(0);
  });

  it("logs in with email and password and keeps the tokens", async () => {
    const fake = new FakeApi(null).on("POST /v1/auth/login", {
      body: { access_token: "a", id_token: "i", refresh_token: "r", expires_in: 3600, token_type: "Bearer" },
    });
    const api = new ApiClient("", memorySessionStore(), fake.fetch);
    await api.login("ada@example.com", "secret-password");
    expect(fake.requests[0].body).toEqual({ email: "ada@example.com", password: "secret-password" });
    expect(fake.requests[0].headers.Authorization).toBeUndefined();
    expect(api.session).toMatchObject({ accessToken: "a", refreshToken: "r", kind: "password" });
  });

  it("builds URLs against the configured API and drops empty query values", () => {
    const api = new ApiClient("https://api.example.com/", memorySessionStore(), new FakeApi(null).fetch);
    expect(api.url("/v1/runs", { status: "running", agent_id: "", cursor: null, limit: 25 })).toBe(
      "https://api.example.com/v1/runs?status=running&limit=25",
    );
  });
});

describe("loadConfig", () => {
  it("reads config.json and trims the API URL", async () => {
    const fetchFn = async () =>
      new Response(JSON.stringify({ apiUrl: "https://api.example.com/", environment: "aws", region: "eu-west-1" }), {
        headers: { "Content-Type": "application/json" },
      });
    await expect(loadConfig(fetchFn)).resolves.toMatchObject({ apiUrl: "https://api.example.com", environment: "aws" });
  });

  it("falls back to the same origin when config.json is missing or is the SPA page", async () => {
    const html = async () => new Response("<!doctype html>", { headers: { "Content-Type": "text/html" } });
    await expect(loadConfig(html)).resolves.toEqual({ apiUrl: "", environment: "local" });
    const missing = async () => new Response("nope", { status: 404 });
    await expect(loadConfig(missing)).resolves.toEqual({ apiUrl: "", environment: "local" });
  });
});
