import { useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import type { AgentLimits, Budget, Run, RunCreate } from "../api/types";
import { DEFAULT_MAX_COST_USD } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { EnvEditor, parseEnvRow, type EnvRow } from "../components/EnvEditor";
import { FileDrop, type UploadItem } from "../components/FileDrop";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { ScriptedLabel } from "../components/StatusBadge";
import { useAgents } from "../lib/useAgents";

const BUDGET_FIELDS: { name: keyof Budget & keyof AgentLimits; label: string; min: number; max: number; step?: string }[] = [
  { name: "max_steps", label: "Max steps", min: 1, max: 200 },
  { name: "max_tokens", label: "Max tokens", min: 1000, max: 10_000_000 },
  { name: "max_cost_usd", label: "Max cost (USD)", min: 0, max: 1000, step: "0.01" },
  { name: "max_wall_s", label: "Max wall time (s)", min: 10, max: 86_400 },
];

/** The agent's own limit, shown in a blank override; an agent without a cost budget has the platform's default. */
function budgetPlaceholder(limit: number | null | undefined): string {
  return limit === null || limit === undefined ? `default (${DEFAULT_MAX_COST_USD})` : String(limit);
}

/** One key per form: a double submit or a retry after a lost answer starts the run once. */
function newIdempotencyKey(): string {
  // randomUUID exists only in secure contexts; a stack reached over plain HTTP on a LAN address is not one.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function NewRunPage() {
  const api = useApi();
  const { can } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const agents = useAgents();
  const [agentId, setAgentId] = useState(params.get("agent") ?? "");
  const [prompt, setPrompt] = useState("");
  const [uploads, setUploads] = useState<UploadItem[]>([]);
  const [env, setEnv] = useState<EnvRow[]>([]);
  const [criterion, setCriterion] = useState("");
  const [check, setCheck] = useState("");
  const [budget, setBudget] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const idempotencyKey = useMemo(newIdempotencyKey, []);

  if (!can("runs.create")) {
    return <Empty>Your role cannot start runs.</Empty>;
  }
  const chosen = agentId || agents.data?.[0]?.id || "";
  const agent = agents.data?.find((a) => a.id === chosen);
  const envErrors = env.map(parseEnvRow).filter((r) => r.error);
  const uploading = uploads.some((u) => u.state === "uploading");
  const failedUploads = uploads.filter((u) => u.state === "error");

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (envErrors.length || uploading || failedUploads.length) return;
    const body: RunCreate = { agent_id: chosen, prompt };
    const fileIds = uploads.flatMap((u) => (u.record ? [u.record.id] : []));
    if (fileIds.length) body.file_ids = fileIds;
    if (env.length) body.env = Object.fromEntries(env.map((row) => [row.name, parseEnvRow(row).value!]));
    if (criterion.trim() || check.trim()) {
      body.goal = { ...(criterion.trim() ? { criterion: criterion.trim() } : {}), ...(check.trim() ? { check } : {}) };
    }
    const overrides = Object.fromEntries(Object.entries(budget).filter(([, v]) => v.trim() !== "").map(([k, v]) => [k, Number(v)]));
    if (Object.keys(overrides).length) body.budget = overrides;
    setBusy(true);
    setError(null);
    try {
      const run = await api.post<Run>("/v1/runs", body, { headers: { "Idempotency-Key": idempotencyKey } });
      navigate(`/runs/${run.id}`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  if (agents.loading && !agents.data) return <Loading label="Loading agents…" />;
  if (agents.error && !agents.data) return <ErrorNotice error={agents.error} onRetry={agents.reload} />;
  if (!agents.data?.length) {
    return (
      <Empty>
        There are no agents yet. {can("agents.write") ? <Link to="/agents/new">Create one first.</Link> : "Ask an operator to create one."}
      </Empty>
    );
  }

  return (
    <section aria-labelledby="new-run-title">
      <h1 id="new-run-title">New run</h1>
      <form onSubmit={submit} className="stack">
        <label>
          Agent
          <select value={chosen} onChange={(e) => setAgentId(e.target.value)} required>
            {agents.data.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        {agent && (
          <p className="muted">
            {agent.description || "No description."} Reasoning model: {agent.models.reasoning.join(" → ")}{" "}
            {agent.models.reasoning.includes("scripted") && <ScriptedLabel />}
          </p>
        )}
        <label>
          Prompt
          <textarea value={prompt} onChange={(e) => setPrompt(e.target.value)} required maxLength={50_000} rows={5} />
        </label>
        <fieldset>
          <legend>Files</legend>
          <FileDrop items={uploads} onChange={setUploads} />
        </fieldset>
        <EnvEditor rows={env} onChange={setEnv} />
        <fieldset>
          <legend>Goal (optional)</legend>
          <label>
            Criterion, judged by the model
            <input value={criterion} onChange={(e) => setCriterion(e.target.value)} maxLength={4000} />
          </label>
          <label>
            Python check, run in the sandbox (passes when it exits 0)
            <textarea value={check} onChange={(e) => setCheck(e.target.value)} rows={3} className="mono" maxLength={20_000} />
          </label>
        </fieldset>
        <fieldset>
          <legend>Budget overrides (optional)</legend>
          <div className="grid">
            {BUDGET_FIELDS.map((field) => (
              <label key={field.name}>
                {field.label}
                <input
                  type="number"
                  min={field.min}
                  max={field.max}
                  step={field.step ?? "1"}
                  placeholder={agent ? budgetPlaceholder(agent.limits[field.name]) : undefined}
                  value={budget[field.name] ?? ""}
                  onChange={(e) => setBudget({ ...budget, [field.name]: e.target.value })}
                />
              </label>
            ))}
          </div>
        </fieldset>
        {failedUploads.length > 0 && (
          <p className="field-error" role="alert">
            Remove the files that could not be uploaded before starting the run.
          </p>
        )}
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="submit" disabled={busy || uploading || envErrors.length > 0 || failedUploads.length > 0}>
            {busy ? "Starting…" : uploading ? "Uploading files…" : "Start run"}
          </button>
        </div>
      </form>
    </section>
  );
}
