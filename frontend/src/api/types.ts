// Shapes of the agentlab API (layers/core/agentlab/models and the identity contract).

export type RunStatus =
  | "queued"
  | "running"
  | "waiting_approval"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "budget_exceeded";
export const RUN_STATUSES: RunStatus[] = [
  "queued",
  "running",
  "waiting_approval",
  "succeeded",
  "failed",
  "cancelled",
  "budget_exceeded",
];
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "cancelled", "budget_exceeded"]);

export type StepType =
  | "think"
  | "critique"
  | "execute"
  | "evaluate"
  | "approval"
  | "error"
  | "checkout"
  | "detect"
  | "phase"
  | "discover";
export type EnvType = "str" | "int" | "float" | "bool" | "json";
export type Role = "admin" | "operator" | "member" | "viewer";
export const ROLES: Role[] = ["viewer", "member", "operator", "admin"];
export type ToolName = "python" | "list_files" | "read_file" | "request_approval" | "finish";
export const ALL_TOOLS: ToolName[] = ["python", "list_files", "read_file", "request_approval", "finish"];

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface EnvVar {
  type: EnvType;
  value: unknown;
}

export interface Goal {
  criterion?: string | null;
  check?: string | null;
}

export interface Budget {
  max_steps?: number | null;
  max_tokens?: number | null;
  max_cost_usd?: number | null;
  max_wall_s?: number | null;
}

export interface ScriptAction {
  tool: "python" | "request_approval" | "finish";
  code?: string;
  reason?: string;
  answer?: string;
}

export interface Usage {
  steps: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** False once a step used a model without a price: `cost_usd` then counts only the priced steps. */
  cost_known?: boolean;
  sandbox_s: number;
}

/** Where the whole text of a field lives when its record keeps only a preview; `url` is a presigned GET. */
export interface OutputRef {
  key: string;
  chars: number;
  bytes: number;
  url: string | null;
}

export interface Run {
  id: string;
  org_id: string;
  agent_id: string;
  agent_version: number;
  thread_id: string;
  prompt: string;
  file_ids: string[];
  env: Record<string, EnvVar>;
  goal: Goal | null;
  budget: Budget;
  script: ScriptAction[] | null;
  status: RunStatus;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  ended_at: string | null;
  usage: Usage;
  error: { code: string; message: string } | null;
  result: string | null;
  /** Set when `result` is a preview of a longer answer. */
  result_full?: OutputRef | null;
  isolation: string | null;
  created_by: string;
  revision: number;
  /** The schedule that started the run, if one did. */
  schedule_id?: string | null;
  /** The run's cost by component (USD), once it ended; `usage.cost_usd` is the model's part. */
  cost?: CostBreakdown | null;
  step_count: number;
  /** The workflow the run follows; unset for an agent's run. A repo run has no agent (`agent_id` is ""). */
  workflow?: string;
  /** What a `repo_optimize` run checks out. */
  repo?: RunRepo | null;
}

export interface RunCreate {
  agent_id: string;
  prompt: string;
  thread_id?: string;
  file_ids?: string[];
  env?: Record<string, EnvVar>;
  goal?: Goal;
  budget?: Budget;
  script?: ScriptAction[];
}

export interface Step {
  run_id: string;
  seq: number;
  type: StepType;
  created_at: string;
  duration_ms: number;
  model_id: string | null;
  provider: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** False when a model of the step has no price: `cost_usd` then counts only the priced calls. */
  cost_known?: boolean;
  sandbox_s: number;
  detail: Record<string, unknown>;
  /** Fields of `detail` that hold a preview, and where their whole text is. */
  full_output?: Record<string, OutputRef>;
}

export interface Artifact {
  id: string;
  run_id: string;
  name: string;
  content_type: string;
  size: number;
  step_seq: number | null;
  created_at: string;
  url: string | null;
}

export interface AgentModels {
  reasoning: string[];
  code: string[];
  vision: string[];
}

export interface AgentLimits {
  max_steps: number;
  max_tokens: number;
  /** Unset (null or left out): the platform's default budget applies where costs are known. */
  max_cost_usd?: number | null;
  max_wall_s: number;
  /** At most MAX_CELL_TIMEOUT_S. */
  cell_timeout_s: number;
  sandbox_cpu: number;
  sandbox_memory_mb: number;
  /** Tokens one reply may hold; unset: each model's own default. */
  max_output_tokens?: number | null;
}

/** The longest cell an agent may set (models/agent.py MAX_CELL_TIMEOUT_S). */
export const MAX_CELL_TIMEOUT_S = 600;
/** The platform's cost budget for an agent that sets none (models/agent.py DEFAULT_MAX_COST_USD). */
export const DEFAULT_MAX_COST_USD = 5;

export type CriticMode = "enforce" | "warn" | "off";
export const CRITIC_MODES: CriticMode[] = ["enforce", "warn", "off"];

export interface CriticSettings {
  mode: CriticMode;
  allow_imports: string[];
  forbid_imports: string[];
  /** Forbidden calls ("os.system", "subprocess.*") this agent may use. */
  allow_calls: string[];
}

export interface AgentSpec {
  name: string;
  description: string;
  system_prompt: string;
  models: AgentModels;
  tools: ToolName[];
  limits: AgentLimits;
  critic: CriticSettings;
}

export interface Agent extends AgentSpec {
  id: string;
  org_id: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface FileRecord {
  id: string;
  name: string;
  content_type: string;
  size: number;
  status: "pending" | "ready" | "rejected";
  created_at: string;
  error: string | null;
}

export interface FileCreated {
  file: FileRecord;
  upload: { url: string; fields: Record<string, string>; expires_in_s: number };
}

export interface Me {
  identity: string;
  kind: "user" | "api_key";
  org_id: string;
  org_name: string;
  role: Role;
  platform_admin: boolean;
  email: string | null;
  actions: string[];
}

export interface Tokens {
  access_token: string;
  id_token: string | null;
  refresh_token: string | null;
  expires_in: number;
  token_type: string;
}

export interface Member {
  id: string;
  email: string;
  role: Role;
  created_at: string;
  password?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
  key?: string;
}

export interface Provider {
  name: string;
  configured: boolean;
  healthy: boolean | null;
  detail: string | null;
  models: string[];
  default: boolean;
}

export interface Deleted {
  id: string;
  deleted: boolean;
}

// Schedules (models/schedule.py).

export type ScheduleStatus = "active" | "paused" | "disabled";
export type FireOutcome = "started" | "skipped";
export type FireReason = "paused" | "disabled" | "daily_budget" | "org_quota" | "missed" | "duplicate";
/** How many failed runs in a row pause a schedule unless it says otherwise (models/schedule.py). */
export const DEFAULT_AUTO_PAUSE_AFTER = 3;

/** Limits per calendar day in the schedule's timezone; a fire beyond them is skipped. Unset: no limit. */
export interface DailyBudget {
  max_runs?: number | null;
  max_cost_usd?: number | null;
  max_sandbox_minutes?: number | null;
}

export interface ScheduleSpec {
  name: string;
  agent_id: string;
  /** Unset: each fire runs the agent's latest version. */
  agent_version?: number | null;
  prompt: string;
  file_ids: string[];
  env: Record<string, EnvVar>;
  goal: Goal | null;
  /** Per run. */
  budget: Budget;
  expression: string;
  timezone: string;
  enabled: boolean;
  daily_budget: DailyBudget;
  auto_pause_after: number;
}

export type ScheduleCreate = Partial<ScheduleSpec> & Pick<ScheduleSpec, "name" | "agent_id" | "prompt" | "expression">;

/** A partial update: a field left out keeps its value; null is refused. */
export type ScheduleUpdate = Partial<ScheduleSpec> & { expected_revision?: number };

export interface Schedule extends ScheduleSpec {
  id: string;
  org_id: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  revision: number;
  status: ScheduleStatus;
  paused_reason: string | null;
  consecutive_failures: number;
  last_fire_at: string | null;
  /** The next five fire times (RFC 3339). */
  next_fires: string[];
  /** The expression in words. */
  description: string;
}

export interface ScheduleFire {
  schedule_id: string;
  scheduled_time: string;
  recorded_at: string;
  outcome: FireOutcome;
  reason: FireReason | null;
  run_id: string | null;
}

export interface SchedulePreview {
  description: string;
  next_fires: string[];
}

// Usage and cost (GET /v1/usage).

export type UsageGroupBy = "day" | "agent" | "model" | "schedule" | "user";
export const USAGE_GROUP_BYS: UsageGroupBy[] = ["day", "agent", "model", "schedule", "user"];
export type CostComponent = "model" | "sandbox" | "orchestration" | "lambda" | "storage";
export const COST_COMPONENTS: CostComponent[] = ["model", "sandbox", "orchestration", "lambda", "storage"];
export type CostBreakdown = Record<CostComponent | "total", number>;
export type UsageRunStatus = "succeeded" | "failed" | "cancelled" | "budget_exceeded";
export const USAGE_RUN_STATUSES: UsageRunStatus[] = ["succeeded", "failed", "cancelled", "budget_exceeded"];
/** The shares of the monthly budget at which alerts go out. */
export const BUDGET_ALERT_PERCENTS = [50, 80, 100];

export interface UsageFigures {
  input_tokens: number;
  output_tokens: number;
  cost: CostBreakdown;
  /** False once a model without a price took part: the model cost then counts only the priced calls. */
  cost_known: boolean;
  runs: Record<UsageRunStatus, number>;
  sandbox_seconds: number;
  state_transitions: number;
}

export interface UsageGroup extends UsageFigures {
  key: string;
  label: string;
}

export interface MonthlyBudget {
  monthly_usd: number | null;
  /** YYYY-MM */
  month: string;
  spent_usd: number;
  /** The percentages whose alerts went out this month. */
  alerts_sent: number[];
}

export interface UsageReport {
  from: string;
  to: string;
  group_by: UsageGroupBy;
  currency: "USD";
  total: UsageFigures;
  groups: UsageGroup[];
  budget: MonthlyBudget;
}

// Connected Git repositories and their baselines (the repo_optimize workflow).

export const REPO_WORKFLOW = "repo_optimize";
export type RepoCommandName = "install" | "build" | "typecheck" | "test" | "lint" | "bench";
/** In the order a baseline runs them. */
export const REPO_COMMAND_NAMES: RepoCommandName[] = ["install", "build", "typecheck", "test", "lint", "bench"];
/** How many times a benchmark may run (`bench_runs`). */
export const BENCH_RUNS_MIN = 1;
export const BENCH_RUNS_MAX = 50;

export interface Repo {
  id: string;
  org_id: string;
  name: string;
  /** https://… or, on the local stack only, file:///… */
  url: string;
  default_branch: string;
  /** A token is stored; the token itself is never returned. */
  has_credentials: boolean;
  created_at: string;
  updated_at: string;
  created_by: string;
  revision: number;
  last_run_id: string | null;
}

export interface RepoCreate {
  url: string;
  default_branch?: string;
  name?: string;
  credentials?: { token: string };
}

export interface RepoUpdate {
  name?: string;
  default_branch?: string;
  /** null removes the stored token. */
  credentials?: { token: string } | null;
  expected_revision?: number;
}

export interface CommandEvidence {
  file: string;
  line: number | null;
  detail: string;
}

export interface DetectedCommand {
  command: string;
  /** 0..1 */
  confidence: number;
  evidence: CommandEvidence[];
  working_directory: string;
  source: string;
}

export interface RepoDetection {
  commit_sha: string;
  detected_at: string;
  language: string | null;
  package_manager: string | null;
  framework: string | null;
  commands: Partial<Record<RepoCommandName, DetectedCommand>>;
  workspaces: string[];
  notes: string[];
  needs_confirmation: RepoCommandName[];
}

export interface EffectiveCommand {
  command: string;
  origin: "override" | "detected";
  /** null for an override: a person wrote it. */
  confidence: number | null;
  evidence: CommandEvidence[];
  needs_confirmation: boolean;
}

export interface RepoConfig {
  repo_id: string;
  /** null until a run has detected the commands. */
  detected: RepoDetection | null;
  /** A null or missing name uses the detected command. */
  overrides: Partial<Record<RepoCommandName, string | null>>;
  confirmed: RepoCommandName[];
  effective: Partial<Record<RepoCommandName, EffectiveCommand>>;
  /** null: the deployment's default. */
  bench_runs: number | null;
  revision: number;
}

/** PUT replaces the overrides: a name left out uses the detected command. */
export interface RepoConfigUpdate {
  overrides: Partial<Record<RepoCommandName, string | null>>;
  confirmed?: RepoCommandName[];
  bench_runs?: number;
  expected_revision?: number;
}

export interface RepoRunCreate {
  branch?: string;
  /** 40 hex digits. */
  sha?: string;
  budget?: { max_wall_s?: number };
}

export interface RunRepo {
  repo_id: string;
  url?: string;
  branch: string | null;
  /** The commit asked for, if one was. */
  sha: string | null;
  /** The commit checked out; null until then. */
  commit_sha: string | null;
}

export type BaselinePhaseName = "install" | "build" | "typecheck" | "test" | "test_rerun" | "bench";
export type PhaseLimit = "timeout" | "cpu" | "memory" | "disk" | "output";
export type BaselineFailureCode =
  | "install_failed"
  | "build_failed"
  | "typecheck_failed"
  | "tests_failed"
  | "no_tests_found"
  | "benchmark_missing"
  | "benchmark_failed";

export interface BaselinePhase {
  phase: BaselinePhaseName;
  command: string;
  exit_code: number | null;
  duration_s: number;
  limit: PhaseLimit | null;
  network: boolean;
  output_tail: string;
  log_key?: string;
}

export interface BaselineTests {
  source: string;
  total: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  failures: string[];
  flaky: string[];
  duration_s: number;
}

export interface BenchmarkSummary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  stdev: number;
  mad: number;
  p05: number;
  p95: number;
  cv: number;
  ci95_median: [number, number] | null;
}

export interface BenchmarkSeries {
  name: string;
  /** Seconds. */
  samples: number[];
  summary: BenchmarkSummary;
}

export interface Baseline {
  run_id: string;
  repo_id: string;
  commit_sha: string;
  status: "succeeded" | "failed";
  failure: { code: BaselineFailureCode; message: string } | null;
  phases: BaselinePhase[];
  tests: BaselineTests | null;
  benchmark: { source: string; runs: number; series: BenchmarkSeries[] } | null;
  notes: string[];
}
