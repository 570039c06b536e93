import { useId, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { Budget, DailyBudget, EnvVar, Schedule, ScheduleCreate, ScheduleSpec, ScheduleUpdate } from "../api/types";
import { DEFAULT_AUTO_PAUSE_AFTER } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { EnvEditor, parseEnvRow, type EnvRow } from "../components/EnvEditor";
import { FileDrop, type UploadItem } from "../components/FileDrop";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { fieldErrors, knownTimezones, useExpressionPreview } from "../lib/schedules";
import { useAgents } from "../lib/useAgents";
import { useResource } from "../lib/useResource";

interface NumberField<K extends string> {
  name: K;
  label: string;
  min: number;
  max: number;
  step?: string;
}

const RUN_BUDGET_FIELDS: NumberField<keyof Budget & string>[] = [
  { name: "max_steps", label: "Max steps per run", min: 1, max: 200 },
  { name: "max_tokens", label: "Max tokens per run", min: 1000, max: 10_000_000 },
  { name: "max_cost_usd", label: "Max cost per run (USD)", min: 0, max: 1000, step: "0.01" },
  { name: "max_wall_s", label: "Max wall time per run (s)", min: 10, max: 86_400 },
];
const DAILY_BUDGET_FIELDS: NumberField<keyof DailyBudget & string>[] = [
  { name: "max_runs", label: "Max runs per day", min: 1, max: 10_000 },
  { name: "max_cost_usd", label: "Max cost per day (USD)", min: 0, max: 100_000, step: "0.01" },
  { name: "max_sandbox_minutes", label: "Max sandbox minutes per day", min: 1, max: 144_000 },
];

/** Errors shown at their own input rather than under their group. */
const INPUT_ERROR_KEYS = new Set([
  ...RUN_BUDGET_FIELDS.map((field) => `budget.${field.name}`),
  ...DAILY_BUDGET_FIELDS.map((field) => `daily_budget.${field.name}`),
]);

interface Form {
  name: string;
  agentId: string;
  /** "" runs the latest version. */
  agentVersion: string;
  prompt: string;
  fileIds: string[];
  env: EnvRow[];
  criterion: string;
  check: string;
  budget: Record<string, string>;
  expression: string;
  timezone: string;
  enabled: boolean;
  daily: Record<string, string>;
  autoPauseAfter: string;
}

const EMPTY_FORM: Form = {
  name: "",
  agentId: "",
  agentVersion: "",
  prompt: "",
  fileIds: [],
  env: [],
  criterion: "",
  check: "",
  budget: {},
  expression: "",
  timezone: "UTC",
  enabled: true,
  daily: {},
  autoPauseAfter: String(DEFAULT_AUTO_PAUSE_AFTER),
};

function envText(variable: EnvVar): string {
  if (variable.type === "json") return JSON.stringify(variable.value);
  return String(variable.value);
}

function texts(values: Record<string, number | null | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).flatMap(([k, v]) => (v == null ? [] : [[k, String(v)]])));
}

function formOf(schedule: Schedule): Form {
  return {
    name: schedule.name,
    agentId: schedule.agent_id,
    agentVersion: schedule.agent_version == null ? "" : String(schedule.agent_version),
    prompt: schedule.prompt,
    fileIds: schedule.file_ids,
    env: Object.entries(schedule.env).map(([name, variable], index) => ({ key: `env-${index}`, name, type: variable.type, value: envText(variable) })),
    criterion: schedule.goal?.criterion ?? "",
    check: schedule.goal?.check ?? "",
    budget: texts(schedule.budget as Record<string, number | null>),
    expression: schedule.expression,
    timezone: schedule.timezone,
    enabled: schedule.enabled,
    daily: texts(schedule.daily_budget as Record<string, number | null>),
    autoPauseAfter: String(schedule.auto_pause_after),
  };
}

function numbers(values: Record<string, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v.trim() !== "").map(([k, v]) => [k, Number(v)]));
}

/** Problems the browser can see before sending, by field (the server checks again and has the last word). */
function localErrors(form: Form, pinned: boolean): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!form.name.trim()) errors.name = "Give the schedule a name.";
  else if (form.name.length > 100) errors.name = "At most 100 characters.";
  if (!form.prompt.trim()) errors.prompt = "Say what each run should do.";
  if (!form.expression.trim()) errors.expression = "Say when it fires: cron(…), rate(…) or at(…).";
  if (!form.timezone.trim()) errors.timezone = "Give an IANA timezone such as UTC or Europe/Paris.";
  if (pinned && !form.agentVersion) errors.agent_version = "This schedule runs a pinned version: give the version to run.";
  if (form.agentVersion && !(Number.isInteger(Number(form.agentVersion)) && Number(form.agentVersion) >= 1)) {
    errors.agent_version = "A version is a whole number from 1.";
  }
  const auto = Number(form.autoPauseAfter);
  if (!(Number.isInteger(auto) && auto >= 1 && auto <= 100)) errors.auto_pause_after = "A whole number from 1 to 100.";
  const check = (fields: NumberField<string>[], values: Record<string, string>, key: string) => {
    for (const field of fields) {
      const text = values[field.name]?.trim();
      if (!text) continue;
      const value = Number(text);
      const whole = field.step === undefined;
      if (!Number.isFinite(value) || value < field.min || value > field.max || (whole && !Number.isInteger(value))) {
        errors[`${key}.${field.name}`] = `${field.label}: ${whole ? "a whole number" : "a number"} from ${field.min} to ${field.max}.`;
      }
    }
  };
  check(RUN_BUDGET_FIELDS, form.budget, "budget");
  check(DAILY_BUDGET_FIELDS, form.daily, "daily_budget");
  if (form.env.some((row) => parseEnvRow(row).error)) errors.env = "Fix the environment variables above.";
  return errors;
}

function specOf(form: Form, fileIds: string[]): ScheduleSpec {
  const goal = {
    ...(form.criterion.trim() ? { criterion: form.criterion.trim() } : {}),
    ...(form.check.trim() ? { check: form.check } : {}),
  };
  const spec: ScheduleSpec = {
    name: form.name.trim(),
    agent_id: form.agentId,
    prompt: form.prompt,
    file_ids: fileIds,
    env: Object.fromEntries(form.env.map((row) => [row.name, parseEnvRow(row).value!])),
    goal: Object.keys(goal).length ? goal : null,
    budget: numbers(form.budget),
    expression: form.expression.trim(),
    timezone: form.timezone.trim(),
    enabled: form.enabled,
    daily_budget: numbers(form.daily),
    auto_pause_after: Number(form.autoPauseAfter),
  };
  if (form.agentVersion) spec.agent_version = Number(form.agentVersion);
  return spec;
}

/** A new schedule: what differs from the defaults. */
function createBody(spec: ScheduleSpec): ScheduleCreate {
  const body: ScheduleCreate = { name: spec.name, agent_id: spec.agent_id, prompt: spec.prompt, expression: spec.expression, timezone: spec.timezone };
  if (spec.agent_version != null) body.agent_version = spec.agent_version;
  if (spec.file_ids.length) body.file_ids = spec.file_ids;
  if (Object.keys(spec.env).length) body.env = spec.env;
  if (spec.goal) body.goal = spec.goal;
  if (Object.keys(spec.budget).length) body.budget = spec.budget;
  if (!spec.enabled) body.enabled = false;
  if (Object.keys(spec.daily_budget).length) body.daily_budget = spec.daily_budget;
  if (spec.auto_pause_after !== DEFAULT_AUTO_PAUSE_AFTER) body.auto_pause_after = spec.auto_pause_after;
  return body;
}

/** An edit: the fields that changed, guarded by the revision the form was loaded at. A goal cleared is `{}` (no goal). */
function updateBody(spec: ScheduleSpec, original: Schedule): ScheduleUpdate {
  const body: ScheduleUpdate = { expected_revision: original.revision };
  const before: Record<string, unknown> = { ...original, budget: numbers(texts(original.budget as Record<string, number | null>)) };
  before.daily_budget = numbers(texts(original.daily_budget as Record<string, number | null>));
  const changed = body as Record<string, unknown>;
  for (const [name, value] of Object.entries(spec)) {
    if (JSON.stringify(value) !== JSON.stringify(before[name] ?? null)) changed[name] = name === "goal" && value === null ? {} : value;
  }
  return body;
}

function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p id={id} className="field-hint field-error">
      {message}
    </p>
  );
}

export function ScheduleEditor() {
  const { scheduleId } = useParams();
  const api = useApi();
  const { can } = useAuth();
  const navigate = useNavigate();
  const ids = useId();
  const agents = useAgents();
  const existing = useResource(
    (signal) => (scheduleId ? api.get<Schedule>(`/v1/schedules/${encodeURIComponent(scheduleId)}`, { signal }) : Promise.resolve(null)),
    [api, scheduleId],
  );
  const [form, setForm] = useState<Form>(EMPTY_FORM);
  const [loadedRevision, setLoadedRevision] = useState<number | null>(null);
  const [uploads, setUploads] = useState<UploadItem[]>([]);
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const preview = useExpressionPreview(api, form.expression, form.timezone);
  // Hundreds of options: built once, so typing elsewhere does not render them again.
  const timezoneOptions = useMemo(
    () =>
      knownTimezones().map((zone) => <option key={zone} value={zone} />),
    [],
  );

  if (existing.data && loadedRevision !== existing.data.revision) {
    // The form starts from each revision the server hands back (derived state, set while rendering).
    setLoadedRevision(existing.data.revision);
    setForm(formOf(existing.data));
  }

  if (!can("schedules.write")) return <Empty>Your role cannot create or change schedules.</Empty>;
  if (scheduleId && existing.loading && !existing.data) return <Loading label="Loading schedule…" />;
  if (scheduleId && existing.error && !existing.data) return <ErrorNotice error={existing.error} onRetry={existing.reload} />;
  if (agents.loading && !agents.data) return <Loading label="Loading agents…" />;
  if (agents.error && !agents.data) return <ErrorNotice error={agents.error} onRetry={agents.reload} />;
  if (!agents.data?.length) {
    return (
      <Empty>
        There are no agents yet. <Link to="/agents/new">Create one first.</Link>
      </Empty>
    );
  }

  const agentId = form.agentId || agents.data[0].id;
  const agent = agents.data.find((a) => a.id === agentId);
  const original = existing.data ?? null;
  const pinnedBefore = original?.agent_version != null;
  const local = localErrors(form, pinnedBefore);
  const server = fieldErrors(error);
  const previewError = preview.state === "invalid" ? { [preview.field]: preview.message } : {};
  // What the server said last wins over the preview until the field changes; local checks show once submitted.
  const errors: Record<string, string> = { ...previewError, ...server, ...(submitted ? local : {}) };
  const serverFields = new Set(Object.keys(server));
  const uploading = uploads.some((u) => u.state === "uploading");
  const failedUploads = uploads.filter((u) => u.state === "error");

  const set = <K extends keyof Form>(name: K, value: Form[K]) => {
    setForm((current) => ({ ...current, [name]: value }));
    if (error) setError(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (Object.keys(local).length || uploading || failedUploads.length) return;
    const fileIds = [...form.fileIds, ...uploads.flatMap((u) => (u.record ? [u.record.id] : []))];
    const spec = specOf({ ...form, agentId }, fileIds);
    setBusy(true);
    setError(null);
    try {
      const saved = original
        ? await api.patch<Schedule>(`/v1/schedules/${encodeURIComponent(original.id)}`, updateBody(spec, original))
        : await api.post<Schedule>("/v1/schedules", createBody(spec));
      navigate(`/schedules/${saved.id}`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  const describedBy = (field: string) => (errors[field] ? `${ids}-${field}-error` : undefined);
  const invalid = (field: string) => (errors[field] ? true : undefined);
  const numberFields = (fields: NumberField<string>[], values: Record<string, string>, key: "budget" | "daily") => (
    <div className="grid">
      {fields.map((field) => {
        const errorKey = `${key === "daily" ? "daily_budget" : "budget"}.${field.name}`;
        return (
          <div key={field.name}>
            <label>
              {field.label}
              <input
                type="number"
                min={field.min}
                max={field.max}
                step={field.step ?? "1"}
                placeholder="no limit"
                value={values[field.name] ?? ""}
                aria-invalid={invalid(errorKey) ?? invalid(key === "daily" ? "daily_budget" : "budget")}
                aria-describedby={describedBy(errorKey)}
                onChange={(e) => set(key, { ...values, [field.name]: e.target.value })}
              />
            </label>
            <FieldError id={`${ids}-${errorKey}-error`} message={errors[errorKey]} />
          </div>
        );
      })}
    </div>
  );
  // A group shows its own errors and those of its parts that have no input of their own (an env variable's value).
  const groupError = (field: string): ReactNode => {
    const messages = Object.entries(errors)
      .filter(([key]) => key === field || (key.startsWith(`${field}.`) && !INPUT_ERROR_KEYS.has(key)))
      .map(([key, message]) => (key === field ? message : `${key.slice(field.length + 1)}: ${message}`));
    return <FieldError id={`${ids}-${field}-error`} message={messages.join(" ")} />;
  };

  return (
    <section aria-labelledby="schedule-editor-title">
      <p>
        <Link to={original ? `/schedules/${original.id}` : "/schedules"}>← {original ? original.name : "Schedules"}</Link>
      </p>
      <h1 id="schedule-editor-title">{original ? `Edit ${original.name}` : "New schedule"}</h1>
      <form onSubmit={submit} className="stack" noValidate>
        <div>
          <label>
            Name
            <input
              value={form.name}
              onChange={(e) => set("name", e.target.value)}
              maxLength={100}
              aria-invalid={invalid("name")}
              aria-describedby={describedBy("name")}
            />
          </label>
          {groupError("name")}
        </div>
        <fieldset>
          <legend>When</legend>
          <div>
            <label>
              Expression
              <input
                className="mono"
                value={form.expression}
                placeholder="cron(0 6 * * ? *), rate(1 hour) or at(2026-07-01T09:00:00)"
                onChange={(e) => set("expression", e.target.value)}
                aria-invalid={invalid("expression")}
                aria-describedby={`${ids}-preview ${describedBy("expression") ?? ""}`.trim()}
              />
            </label>
            {groupError("expression")}
            <div id={`${ids}-preview`} className="preview" aria-live="polite">
              {preview.state === "checking" && <span className="muted">Checking…</span>}
              {preview.state === "failed" && <span className="warn-text">The expression cannot be checked now: {preview.message}</span>}
              {preview.state === "ok" && !serverFields.has("expression") && (
                <>
                  <strong>{preview.preview.description}</strong>
                  {preview.preview.next_fires.length > 0 && (
                    <>
                      {" "}
                      <span className="muted">Next fires:</span>
                      <ol aria-label="Next fires">
                        {preview.preview.next_fires.map((time) => (
                          <li key={time}>
                            <time dateTime={time}>{formatTime(time)}</time>
                          </li>
                        ))}
                      </ol>
                    </>
                  )}
                </>
              )}
            </div>
          </div>
          <div>
            <label>
              Timezone
              <input
                value={form.timezone}
                list={`${ids}-timezones`}
                onChange={(e) => set("timezone", e.target.value)}
                aria-invalid={invalid("timezone")}
                aria-describedby={describedBy("timezone")}
              />
            </label>
            <datalist id={`${ids}-timezones`}>
              {timezoneOptions}
            </datalist>
            {groupError("timezone")}
          </div>
          <label className="check">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
            Enabled (a disabled schedule does not fire)
          </label>
        </fieldset>
        <fieldset>
          <legend>What runs</legend>
          <div>
            <label>
              Agent
              <select value={agentId} onChange={(e) => set("agentId", e.target.value)} aria-invalid={invalid("agent_id")} aria-describedby={describedBy("agent_id")}>
                {agents.data.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
            </label>
            {groupError("agent_id")}
          </div>
          <div>
            <label>
              Agent version
              <input
                type="number"
                min={1}
                step="1"
                placeholder={pinnedBefore ? "" : `latest${agent ? ` (now ${agent.version})` : ""}`}
                required={pinnedBefore}
                value={form.agentVersion}
                onChange={(e) => set("agentVersion", e.target.value)}
                aria-invalid={invalid("agent_version")}
                aria-describedby={`${ids}-version-hint ${describedBy("agent_version") ?? ""}`.trim()}
              />
            </label>
            <p id={`${ids}-version-hint`} className="field-hint muted">
              {pinnedBefore ? "This schedule is pinned to a version; choose another version to change it." : "Blank: each fire runs the agent's latest version."}
            </p>
            {groupError("agent_version")}
          </div>
          <div>
            <label>
              Prompt
              <textarea
                value={form.prompt}
                onChange={(e) => set("prompt", e.target.value)}
                rows={4}
                maxLength={50_000}
                aria-invalid={invalid("prompt")}
                aria-describedby={describedBy("prompt")}
              />
            </label>
            {groupError("prompt")}
          </div>
          <fieldset>
            <legend>Files</legend>
            {form.fileIds.length > 0 && (
              <ul className="uploads">
                {form.fileIds.map((id) => (
                  <li key={id}>
                    <span className="mono">{id}</span>
                    <button type="button" className="link" onClick={() => set("fileIds", form.fileIds.filter((f) => f !== id))}>
                      Remove {id}
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <FileDrop items={uploads} onChange={setUploads} />
            {groupError("file_ids")}
          </fieldset>
          <EnvEditor rows={form.env} onChange={(rows) => set("env", rows)} />
          {groupError("env")}
          <fieldset>
            <legend>Goal (optional)</legend>
            <label>
              Criterion, judged by the model
              <input value={form.criterion} onChange={(e) => set("criterion", e.target.value)} maxLength={4000} />
            </label>
            <label>
              Python check, run in the sandbox (passes when it exits 0)
              <textarea value={form.check} onChange={(e) => set("check", e.target.value)} rows={3} className="mono" maxLength={20_000} />
            </label>
            {groupError("goal")}
          </fieldset>
          <fieldset>
            <legend>Budget per run (optional; blank keeps the agent's limit)</legend>
            {numberFields(RUN_BUDGET_FIELDS, form.budget, "budget")}
            {groupError("budget")}
          </fieldset>
        </fieldset>
        <fieldset>
          <legend>Daily budget (optional; a fire beyond it is skipped)</legend>
          {numberFields(DAILY_BUDGET_FIELDS, form.daily, "daily")}
          {groupError("daily_budget")}
          <div>
            <label>
              Pause after this many failed runs in a row
              <input
                type="number"
                min={1}
                max={100}
                step="1"
                value={form.autoPauseAfter}
                onChange={(e) => set("autoPauseAfter", e.target.value)}
                aria-invalid={invalid("auto_pause_after")}
                aria-describedby={describedBy("auto_pause_after")}
              />
            </label>
            {groupError("auto_pause_after")}
          </div>
        </fieldset>
        {failedUploads.length > 0 && (
          <p className="field-error" role="alert">
            Remove the files that could not be uploaded before saving.
          </p>
        )}
        {submitted && Object.keys(local).length > 0 && (
          <p className="field-error" role="alert">
            Some fields need attention; each says what is wrong below it.
          </p>
        )}
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="submit" disabled={busy || uploading}>
            {busy ? "Saving…" : uploading ? "Uploading files…" : original ? "Save changes" : "Create schedule"}
          </button>
          <Link to={original ? `/schedules/${original.id}` : "/schedules"}>Cancel</Link>
        </div>
      </form>
    </section>
  );
}
