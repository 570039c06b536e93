// A fake API for component tests: routes answer like the real one, and every request is recorded.
import { render } from "@testing-library/react";
import type { ReactElement, ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { ApiClient, memorySessionStore, type Session } from "../api/client";
import type { Me, Role } from "../api/types";
import { AuthProvider, useAuth } from "../auth/AuthContext";

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

/** `text` answers with a plain-text body (storage), `body` with JSON (the API). */
export type Reply = { status?: number; body?: unknown; text?: string; headers?: Record<string, string> };
export type Handler = (request: Recorded) => Reply | Promise<Reply>;

const ACTIONS: Record<Role, string[]> = {
  viewer: ["me.read", "agents.read", "runs.read", "files.read", "schedules.read", "usage.read"],
  member: ["me.read", "agents.read", "runs.read", "files.read", "schedules.read", "usage.read", "runs.create", "runs.cancel", "files.write"],
  operator: [
    "me.read",
    "agents.read",
    "runs.read",
    "files.read",
    "schedules.read",
    "usage.read",
    "runs.create",
    "runs.cancel",
    "files.write",
    "agents.write",
    "runs.approve",
    "schedules.write",
  ],
  admin: [
    "me.read",
    "agents.read",
    "runs.read",
    "files.read",
    "schedules.read",
    "usage.read",
    "runs.create",
    "runs.cancel",
    "files.write",
    "agents.write",
    "runs.approve",
    "schedules.write",
    "members.read",
    "members.write",
    "api_keys.read",
    "api_keys.write",
    "audit.read",
    "providers.read",
    "org.export",
    "org.delete",
    "webhooks.read",
    "webhooks.write",
    "usage.budget",
  ],
};

export function meFor(role: Role): Me {
  return {
    identity: `user-${role}`,
    kind: "user",
    org_id: "01ORG",
    org_name: "default",
    role,
    platform_admin: false,
    email: `${role}@example.com`,
    actions: ACTIONS[role],
  };
}

export function apiError(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message, request_id: "req-1" } } };
}

export class FakeApi {
  readonly requests: Recorded[] = [];
  private routes = new Map<string, Handler>();

  constructor(role: Role | null = "admin") {
    if (role) this.on("GET /v1/me", () => ({ body: meFor(role) }));
  }

  /** `key` is "METHOD /path" with `:param` segments. */
  on(key: string, handler: Handler | Reply): this {
    this.routes.set(key, typeof handler === "function" ? handler : () => handler);
    return this;
  }

  calls(method: string, path: string): Recorded[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input), "http://dashboard.test");
    const headers = Object.fromEntries(Object.entries((init?.headers as Record<string, string>) ?? {}));
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : (init?.body ?? null);
    const request: Recorded = { method: init?.method ?? "GET", path: url.pathname, query: url.searchParams, body, headers };
    this.requests.push(request);
    const handler = this.match(request.method, request.path);
    const reply = handler ? await handler(request) : apiError(404, "route_not_found", "no such route");
    const status = reply.status ?? 200;
    if (reply.text !== undefined) {
      return new Response(reply.text, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...reply.headers } });
    }
    return new Response(status === 204 ? null : JSON.stringify(reply.body ?? null), {
      status,
      headers: { "Content-Type": "application/json", ...reply.headers },
    });
  };

  private match(method: string, path: string): Handler | undefined {
    for (const [key, handler] of this.routes) {
      const [m, pattern] = key.split(" ");
      if (m !== method) continue;
      const regex = new RegExp(`^${pattern.replace(/:[a-z_]+/gi, "[^/]+")}$`);
      if (regex.test(path)) return handler;
    }
    return undefined;
  }
}

export const SIGNED_IN: Session = { accessToken: "token-1", refreshToken: "refresh-1", expiresAt: Date.now() + 3_600_000, kind: "password" };

/** Pages render once the caller is known, as the App shell does. */
function SignedIn({ children }: { children: ReactNode }) {
  const { status } = useAuth();
  return status === "signed_in" ? children : <p>signing in</p>;
}

export function renderWithApi(ui: ReactElement, fake: FakeApi, { path = "/", session = SIGNED_IN as Session | null, gate = true } = {}) {
  const api = new ApiClient("", memorySessionStore(session), fake.fetch);
  const result = render(
    <AuthProvider api={api} config={{ apiUrl: "", environment: "local" }}>
      <MemoryRouter initialEntries={[path]}>{gate && session ? <SignedIn>{ui}</SignedIn> : ui}</MemoryRouter>
    </AuthProvider>,
  );
  return { ...result, api };
}

export const NOW = "2026-01-01T12:00:00Z";

export function agent(overrides: Record<string, unknown> = {}) {
  return {
    id: "01AGENT0000000000000000000",
    org_id: "01ORG",
    name: "demo-analyst",
    description: "Analyses data",
    system_prompt: "",
    models: { reasoning: ["scripted"], code: [], vision: [] },
    tools: ["python", "list_files", "read_file", "request_approval", "finish"],
    limits: {
      max_steps: 20,
      max_tokens: 200000,
      max_cost_usd: null,
      max_wall_s: 1800,
      cell_timeout_s: 120,
      sandbox_cpu: 1,
      sandbox_memory_mb: 1024,
      max_output_tokens: null,
    },
    critic: { mode: "enforce", allow_imports: [], forbid_imports: [], allow_calls: [] },
    version: 1,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

export function run(overrides: Record<string, unknown> = {}) {
  return {
    id: "01RUN00000000000000000000A",
    org_id: "01ORG",
    agent_id: "01AGENT0000000000000000000",
    agent_version: 1,
    thread_id: "01THREAD000000000000000000",
    prompt: "Summarise this CSV and chart it",
    file_ids: [],
    env: {},
    goal: null,
    budget: {},
    script: null,
    status: "running",
    created_at: NOW,
    updated_at: NOW,
    started_at: NOW,
    ended_at: null,
    usage: { steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, cost_known: true, sandbox_s: 0 },
    error: null,
    result: null,
    isolation: null,
    created_by: "user-admin",
    revision: 1,
    step_count: 0,
    ...overrides,
  };
}

export function step(seq: number, type: string, detail: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    run_id: "01RUN00000000000000000000A",
    seq,
    type,
    created_at: NOW,
    duration_ms: 12,
    model_id: null,
    provider: null,
    input_tokens: 0,
    output_tokens: 0,
    cost_usd: 0,
    cost_known: true,
    sandbox_s: 0,
    detail,
    ...overrides,
  };
}

export function schedule(overrides: Record<string, unknown> = {}) {
  return {
    id: "01SCHED000000000000000000A",
    org_id: "01ORG",
    created_by: "user-operator",
    created_at: NOW,
    updated_at: NOW,
    revision: 2,
    name: "nightly-report",
    agent_id: "01AGENT0000000000000000000",
    agent_version: null,
    prompt: "Summarise yesterday's sales",
    file_ids: [],
    env: {},
    goal: null,
    budget: {},
    expression: "cron(0 6 * * ? *)",
    timezone: "Europe/Paris",
    enabled: true,
    daily_budget: {},
    auto_pause_after: 3,
    status: "active",
    paused_reason: null,
    consecutive_failures: 0,
    last_fire_at: null,
    next_fires: ["2026-01-02T05:00:00Z", "2026-01-03T05:00:00Z", "2026-01-04T05:00:00Z", "2026-01-05T05:00:00Z", "2026-01-06T05:00:00Z"],
    description: "At 06:00 AM",
    ...overrides,
  };
}
