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
  viewer: ["me.read", "agents.read", "runs.read", "files.read", "schedules.read", "usage.read", "repos.read"],
  member: ["me.read", "agents.read", "runs.read", "files.read", "schedules.read", "usage.read", "repos.read", "runs.create", "runs.cancel", "files.write"],
  operator: [
    "me.read",
    "agents.read",
    "runs.read",
    "files.read",
    "schedules.read",
    "usage.read",
    "repos.read",
    "runs.create",
    "runs.cancel",
    "files.write",
    "agents.write",
    "runs.approve",
    "schedules.write",
    "repos.write",
  ],
  admin: [
    "me.read",
    "agents.read",
    "runs.read",
    "files.read",
    "schedules.read",
    "usage.read",
    "repos.read",
    "runs.create",
    "runs.cancel",
    "files.write",
    "agents.write",
    "runs.approve",
    "schedules.write",
    "repos.write",
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

export const REPO_ID = "01REPO000000000000000000A";
export const COMMIT_SHA = "0123456789abcdef0123456789abcdef01234567";

export function repo(overrides: Record<string, unknown> = {}) {
  return {
    id: REPO_ID,
    org_id: "01ORG",
    name: "fastmath",
    url: "https://github.com/acme/fastmath.git",
    default_branch: "main",
    has_credentials: false,
    created_at: NOW,
    updated_at: NOW,
    created_by: "user-operator",
    revision: 1,
    last_run_id: null,
    ...overrides,
  };
}

function detectedCommand(command: string, confidence: number, file: string, line: number | null, detail: string) {
  return { command, confidence, evidence: [{ file, line, detail }], working_directory: ".", source: file };
}

/** A Python repository: install, test and bench detected (bench not for sure), build overridden, no typecheck or lint. */
export function repoConfig(overrides: Record<string, unknown> = {}) {
  const install = detectedCommand("uv sync", 0.95, "uv.lock", null, "a uv lock file");
  const test = detectedCommand("uv run pytest -q", 0.9, ".github/workflows/ci.yml", 31, "run: uv run pytest -q");
  const bench = detectedCommand("python bench/run.py", 0.4, "bench/run.py", null, "a script under bench/");
  const effective = (found: ReturnType<typeof detectedCommand>, needsConfirmation = false) => ({
    command: found.command,
    origin: "detected",
    confidence: found.confidence,
    evidence: found.evidence,
    needs_confirmation: needsConfirmation,
  });
  return {
    repo_id: REPO_ID,
    detected: {
      commit_sha: COMMIT_SHA,
      detected_at: NOW,
      language: "python",
      package_manager: "uv",
      framework: "pytest",
      commands: { install, test, bench },
      workspaces: [],
      notes: ["no lint configuration found"],
      needs_confirmation: ["bench"],
    },
    overrides: { build: "make build" },
    confirmed: [],
    effective: {
      install: effective(install),
      build: { command: "make build", origin: "override", confidence: null, evidence: [], needs_confirmation: false },
      test: effective(test),
      bench: effective(bench, true),
    },
    bench_runs: 5,
    revision: 3,
    ...overrides,
  };
}

export function repoRun(overrides: Record<string, unknown> = {}) {
  return run({
    agent_id: "",
    agent_version: 0,
    prompt: "",
    workflow: "repo_optimize",
    repo: { repo_id: REPO_ID, branch: "main", sha: null, commit_sha: COMMIT_SHA },
    ...overrides,
  });
}

export function baseline(overrides: Record<string, unknown> = {}) {
  return {
    run_id: "01RUN00000000000000000000A",
    repo_id: REPO_ID,
    commit_sha: COMMIT_SHA,
    status: "succeeded",
    failure: null,
    phases: [
      { phase: "install", command: "uv sync", exit_code: 0, duration_s: 4.25, limit: null, network: true, output_tail: "" },
      { phase: "test", command: "uv run pytest -q", exit_code: 0, duration_s: 12.5, limit: null, network: false, output_tail: "42 passed" },
      { phase: "bench", command: "python bench/run.py", exit_code: 137, duration_s: 300, limit: "timeout", network: false, output_tail: "" },
    ],
    tests: {
      source: "junit",
      total: 42,
      passed: 40,
      failed: 1,
      errors: 0,
      skipped: 1,
      failures: ["tests/test_add.py::test_overflow"],
      flaky: ["tests/test_clock.py::test_tick"],
      duration_s: 11,
    },
    benchmark: {
      source: "pytest-benchmark",
      runs: 5,
      series: [
        {
          name: "matmul",
          samples: [0.11, 0.12, 0.12, 0.13, 0.12],
          summary: { n: 5, min: 0.11, max: 0.13, mean: 0.12, median: 0.12, stdev: 0.007, mad: 0, p05: 0.11, p95: 0.13, cv: 0.058, ci95_median: [0.115, 0.125] },
        },
      ],
    },
    notes: ["the test phase ran twice to find flaky tests"],
    ...overrides,
  };
}

export function artifact(name: string, overrides: Record<string, unknown> = {}) {
  return {
    id: `01ART-${name}`,
    run_id: "01RUN00000000000000000000A",
    name,
    content_type: name.endsWith(".json") ? "application/json" : "text/plain",
    size: 2048,
    step_seq: null,
    created_at: NOW,
    url: `http://dashboard.test/_s3/${name}?sig=1`,
    ...overrides,
  };
}

/**
 * The repository routes as the API answers them, over state a test can change: a PUT of the config replaces its
 * overrides and confirmations and moves it one revision on (409 at a stale revision); a started run joins the list.
 */
export function serveRepos(
  fake: FakeApi,
  state: {
    repos?: Record<string, unknown>[];
    config?: Record<string, unknown>;
    runs?: Record<string, unknown>[];
    baselines?: Record<string, Record<string, unknown>>;
    artifacts?: Record<string, unknown>[];
  } = {},
) {
  const repos = state.repos ?? [repo()];
  let config: Record<string, unknown> = state.config ?? repoConfig();
  const runs = state.runs ?? [];
  const baselines = state.baselines ?? {};
  const idOf = (path: string) => decodeURIComponent(path.split("/")[3]);
  const runIdOf = (path: string) => decodeURIComponent(path.split("/")[3]);
  const known = (path: string) => repos.find((r) => r.id === idOf(path));
  return fake
    .on("GET /v1/repos", { body: { items: repos, next_cursor: null } })
    .on("POST /v1/repos", (request) => {
      const body = request.body as { url: string; name?: string; default_branch?: string; credentials?: unknown };
      const created = repo({ id: "01REPO000000000000000000B", url: body.url, name: body.name ?? "new-repo", default_branch: body.default_branch ?? "main", has_credentials: Boolean(body.credentials) });
      repos.push(created);
      return { status: 201, body: created };
    })
    .on("GET /v1/repos/:id", (request) => (known(request.path) ? { body: known(request.path) } : apiError(404, "not_found", "repo not found")))
    .on("GET /v1/repos/:id/config", () => ({ body: config }))
    .on("PUT /v1/repos/:id/config", (request) => {
      const body = request.body as { overrides: Record<string, string | null>; confirmed?: string[]; bench_runs?: number; expected_revision?: number };
      if (body.expected_revision !== undefined && body.expected_revision !== config.revision) {
        return apiError(409, "revision_conflict", `the config is at revision ${config.revision}`);
      }
      const overrides = Object.fromEntries(Object.entries(body.overrides).filter(([, command]) => command));
      const effective = { ...(config.effective as Record<string, Record<string, unknown>>) };
      for (const name of body.confirmed ?? []) if (effective[name]) effective[name] = { ...effective[name], needs_confirmation: false };
      for (const [name, command] of Object.entries(overrides)) {
        effective[name] = { command, origin: "override", confidence: null, evidence: [], needs_confirmation: false };
      }
      config = { ...config, overrides, effective, confirmed: body.confirmed ?? config.confirmed, bench_runs: body.bench_runs ?? config.bench_runs, revision: (config.revision as number) + 1 };
      return { body: config };
    })
    .on("POST /v1/repos/:id/runs", (request) => {
      const body = request.body as { branch?: string };
      const started = repoRun({ id: `01RUN00000000000000000${String(runs.length).padStart(4, "0")}`, status: "queued", repo: { repo_id: idOf(request.path), branch: body.branch ?? "main", sha: null, commit_sha: null } });
      runs.unshift(started);
      return { status: 201, body: started };
    })
    .on("GET /v1/repos/:id/runs", { body: { items: runs, next_cursor: null } })
    .on("GET /v1/runs/:id/baseline", (request) => {
      const found = baselines[runIdOf(request.path)];
      return found ? { body: found } : apiError(404, "no_baseline", "the run has not written its baseline");
    })
    .on("GET /v1/runs/:id/artifacts", { body: { items: state.artifacts ?? [artifact("baseline.json"), artifact("logs.txt"), artifact("trace.json")], next_cursor: null } });
}
