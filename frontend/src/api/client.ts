// The one way the dashboard talks to the API: bearer auth, one error shape, a single refresh on 401.
import type {
  Artifact,
  Baseline,
  Deleted,
  Page,
  Repo,
  RepoConfig,
  RepoConfigUpdate,
  RepoCreate,
  RepoRunCreate,
  RepoUpdate,
  Run,
  Tokens,
} from "./types";

export interface RuntimeConfig {
  apiUrl: string;
  environment: string;
  region?: string;
  userPoolId?: string;
  userPoolClientId?: string;
}

export const DEFAULT_CONFIG: RuntimeConfig = { apiUrl: "", environment: "local" };

/** The runtime config.json lets one build serve the local stack and AWS; without it the API is on this origin. */
export async function loadConfig(fetchFn: typeof fetch = fetch): Promise<RuntimeConfig> {
  try {
    const response = await fetchFn("/config.json", { cache: "no-store" });
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.includes("json")) return DEFAULT_CONFIG;
    const body = (await response.json()) as Partial<RuntimeConfig>;
    return { ...DEFAULT_CONFIG, ...body, apiUrl: (body.apiUrl ?? "").replace(/\/+$/, "") };
  } catch {
    return DEFAULT_CONFIG;
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly retryAfterS: number | null;

  constructor(status: number, code: string, message: string, requestId: string | null = null, retryAfterS: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfterS = retryAfterS;
  }
}

/** A human sentence for any error thrown by a request. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const retry = error.retryAfterS ? ` Try again in ${error.retryAfterS} s.` : "";
    return `${error.message}${retry}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export interface Session {
  accessToken: string;
  refreshToken: string | null;
  /** Epoch milliseconds; null for API keys, which do not expire on a clock the dashboard knows. */
  expiresAt: number | null;
  kind: "password" | "api_key";
}

export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

const SESSION_KEY = "agentlab.session";

/** Per tab: a session survives a reload but is not shared with other tabs or left behind when the tab closes. */
export const browserSessionStore: SessionStore = {
  load() {
    try {
      const raw = window.sessionStorage.getItem(SESSION_KEY);
      return raw ? (JSON.parse(raw) as Session) : null;
    } catch {
      return null;
    }
  },
  save(session) {
    if (session) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    else window.sessionStorage.removeItem(SESSION_KEY);
  },
};

export function memorySessionStore(initial: Session | null = null): SessionStore {
  let current = initial;
  return {
    load: () => current,
    save: (session) => {
      current = session;
    },
  };
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PageOptions {
  limit?: number;
  cursor?: string | null;
  signal?: AbortSignal;
}

function repoPath(repoId: string): string {
  return `/v1/repos/${encodeURIComponent(repoId)}`;
}

const REFRESH_MARGIN_MS = 60_000;

export class ApiClient {
  readonly baseUrl: string;
  private readonly store: SessionStore;
  private readonly fetchFn: typeof fetch;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<(session: Session | null) => void>();

  constructor(baseUrl: string, store: SessionStore, fetchFn: typeof fetch = (...args) => fetch(...args)) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.store = store;
    this.fetchFn = fetchFn;
  }

  get session(): Session | null {
    return this.store.load();
  }

  /** Called with the new session (or null when signed out) whenever it changes. */
  subscribe(listener: (session: Session | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setSession(session: Session | null): void {
    this.store.save(session);
    for (const listener of this.listeners) listener(session);
  }

  async login(email: string, password: string): Promise<void> {
    const tokens = await this.send<Tokens>("POST", "/v1/auth/login", { body: { email, password } }, false);
    this.setSession({
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: Date.now() + tokens.expires_in * 1000,
      kind: "password",
    });
  }

  useApiKey(key: string): void {
    this.setSession({ accessToken: key.trim(), refreshToken: null, expiresAt: null, kind: "api_key" });
  }

  signOut(): void {
    this.setSession(null);
  }

  /** Refresh the access token once, however many requests ask at the same time. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const session = this.session;
    if (!session?.refreshToken) return false;
    try {
      const tokens = await this.send<Tokens>("POST", "/v1/auth/refresh", { body: { refresh_token: session.refreshToken } }, false);
      this.setSession({
        ...session,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? session.refreshToken,
        expiresAt: Date.now() + tokens.expires_in * 1000,
      });
      return true;
    } catch {
      return false;
    }
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const session = this.session;
    if (session?.expiresAt && session.refreshToken && session.expiresAt - Date.now() < REFRESH_MARGIN_MS) {
      await this.refresh();
    }
    try {
      return await this.send<T>(method, path, options, true);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      if (await this.refresh()) return this.send<T>(method, path, options, true);
      if (this.session) this.setSession(null);
      throw new ApiError(401, "session_expired", "Your session has ended. Please sign in again.", error.requestId);
    }
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, options);
  }

  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }

  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, { ...options, body });
  }

  patch<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, { ...options, body });
  }

  delete<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, options);
  }

  // Connected repositories (the repo_optimize workflow).

  listRepos({ limit, cursor, signal }: PageOptions = {}): Promise<Page<Repo>> {
    return this.get<Page<Repo>>("/v1/repos", { query: { limit, cursor }, signal });
  }

  getRepo(repoId: string, signal?: AbortSignal): Promise<Repo> {
    return this.get<Repo>(repoPath(repoId), { signal });
  }

  /** 422 `url_not_allowed` or `repo_unreachable` (with the reason) when the repository cannot be connected. */
  connectRepo(body: RepoCreate): Promise<Repo> {
    return this.post<Repo>("/v1/repos", body);
  }

  updateRepo(repoId: string, body: RepoUpdate): Promise<Repo> {
    return this.patch<Repo>(repoPath(repoId), body);
  }

  deleteRepo(repoId: string): Promise<Deleted> {
    return this.delete<Deleted>(repoPath(repoId));
  }

  getRepoConfig(repoId: string, signal?: AbortSignal): Promise<RepoConfig> {
    return this.get<RepoConfig>(`${repoPath(repoId)}/config`, { signal });
  }

  putRepoConfig(repoId: string, body: RepoConfigUpdate): Promise<RepoConfig> {
    return this.put<RepoConfig>(`${repoPath(repoId)}/config`, body);
  }

  startRepoRun(repoId: string, body: RepoRunCreate = {}): Promise<Run> {
    return this.post<Run>(`${repoPath(repoId)}/runs`, body);
  }

  listRepoRuns(repoId: string, { limit, cursor, signal }: PageOptions = {}): Promise<Page<Run>> {
    return this.get<Page<Run>>(`${repoPath(repoId)}/runs`, { query: { limit, cursor }, signal });
  }

  /** 404 `no_baseline` until the run's baseline step wrote it. */
  getBaseline(runId: string, signal?: AbortSignal): Promise<Baseline> {
    return this.get<Baseline>(`/v1/runs/${encodeURIComponent(runId)}/baseline`, { signal });
  }

  listArtifacts(runId: string, signal?: AbortSignal): Promise<Page<Artifact>> {
    return this.get<Page<Artifact>>(`/v1/runs/${encodeURIComponent(runId)}/artifacts`, { signal });
  }

  /** A request that is not to the API (a presigned storage URL): no token, no error parsing. */
  fetchRaw(url: string, init?: RequestInit): Promise<Response> {
    return this.fetchFn(url, init);
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  private async send<T>(method: string, path: string, options: RequestOptions, authenticated: boolean): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const token = authenticated ? this.session?.accessToken : undefined;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await this.fetchFn(this.url(path, options.query), {
        method,
        headers,
        body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(0, "network_error", "The API cannot be reached. Check your connection and try again.");
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string; request_id?: string } } | null)?.error;
      const retryAfter = Number(response.headers.get("Retry-After"));
      throw new ApiError(
        response.status,
        error?.code ?? `http_${response.status}`,
        error?.message ?? `The server answered ${response.status} ${response.statusText}`.trim(),
        error?.request_id ?? response.headers.get("X-Request-ID"),
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
      );
    }
    return body as T;
  }
}
