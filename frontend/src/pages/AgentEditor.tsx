import { useId, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError } from "../api/client";
import type { Agent, AgentLimits, AgentSpec, CriticMode, Page, ToolName } from "../api/types";
import { ALL_TOOLS, CRITIC_MODES, DEFAULT_MAX_COST_USD, MAX_CELL_TIMEOUT_S } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { useResource } from "../lib/useResource";

const DEFAULT_SPEC: AgentSpec = {
  name: "",
  description: "",
  system_prompt: "",
  models: { reasoning: ["default"], code: [], vision: [] },
  tools: [...ALL_TOOLS],
  limits: {
    max_steps: 20,
    max_tokens: 200_000,
    max_cost_usd: null,
    max_wall_s: 1800,
    cell_timeout_s: 120,
    sandbox_cpu: 1,
    sandbox_memory_mb: 1024,
    max_output_tokens: null,
  },
  critic: { mode: "enforce", allow_imports: [], forbid_imports: [], allow_calls: [] },
};

interface LimitField {
  name: keyof AgentLimits;
  label: string;
  min: number;
  max: number;
  step?: string;
  /** A field that may be left blank: what blank means. */
  blank?: { placeholder: string; hint: string };
}

const LIMITS: LimitField[] = [
  { name: "max_steps", label: "Max steps", min: 1, max: 200 },
  { name: "max_tokens", label: "Max tokens", min: 1000, max: 10_000_000 },
  {
    name: "max_output_tokens",
    label: "Max output tokens per reply",
    min: 64,
    max: 128_000,
    blank: { placeholder: "model default", hint: "Blank: each model's own default." },
  },
  {
    name: "max_cost_usd",
    label: "Max cost (USD)",
    min: 0,
    max: 1000,
    step: "0.01",
    blank: {
      placeholder: `default (${DEFAULT_MAX_COST_USD})`,
      hint: `Blank: the platform's default budget (USD ${DEFAULT_MAX_COST_USD}) where costs are known. A number needs a price for every model of the agent.`,
    },
  },
  { name: "max_wall_s", label: "Max wall time (s)", min: 10, max: 86_400 },
  { name: "cell_timeout_s", label: "Cell timeout (s)", min: 1, max: MAX_CELL_TIMEOUT_S },
  { name: "sandbox_cpu", label: "Sandbox vCPU", min: 0.25, max: 4, step: "0.25" },
  { name: "sandbox_memory_mb", label: "Sandbox memory (MB)", min: 256, max: 8192 },
];

const TRUSTED = "For trusted uses: the sandbox still contains the code.";
const CRITIC_MODE_HELP: Record<CriticMode, { label: string; help: string }> = {
  enforce: { label: "enforce (default)", help: "Code the critic blocks never runs; the model is told why." },
  warn: { label: "warn", help: `Findings are recorded and the code runs anyway. ${TRUSTED}` },
  off: { label: "off", help: `No static check: each cell goes straight to the sandbox. ${TRUSTED}` },
};

const MODEL_ROLES: { role: keyof AgentSpec["models"]; label: string }[] = [
  { role: "reasoning", label: "Reasoning models" },
  { role: "code", label: "Code models" },
  { role: "vision", label: "Vision models" },
];

const MODEL_HELP = "Comma-separated, tried in order: default, scripted, bedrock:<model id> or openai:<model>.";

function list(text: string): string[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

function specOf(agent: Agent): AgentSpec {
  const { name, description, system_prompt, models, tools, limits, critic } = agent;
  return {
    name,
    description,
    system_prompt,
    models,
    tools,
    limits: { ...limits, max_cost_usd: limits.max_cost_usd ?? null, max_output_tokens: limits.max_output_tokens ?? null },
    critic: {
      mode: critic.mode ?? "enforce",
      allow_imports: critic.allow_imports ?? [],
      forbid_imports: critic.forbid_imports ?? [],
      allow_calls: critic.allow_calls ?? [],
    },
  };
}

/** The limits as the API takes them: a blank optional limit is left out, so the platform's default applies. */
function limitsBody(limits: AgentLimits): AgentLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== null && value !== undefined)) as AgentLimits;
}

type Texts = Record<"reasoning" | "code" | "vision" | "allow" | "forbid" | "calls", string>;

function textsOf(spec: AgentSpec): Texts {
  return {
    reasoning: spec.models.reasoning.join(", "),
    code: spec.models.code.join(", "),
    vision: spec.models.vision.join(", "),
    allow: spec.critic.allow_imports.join(", "),
    forbid: spec.critic.forbid_imports.join(", "),
    calls: spec.critic.allow_calls.join(", "),
  };
}

export function AgentEditor() {
  const { agentId } = useParams();
  const api = useApi();
  const { can } = useAuth();
  const navigate = useNavigate();
  const editable = can("agents.write");
  const existing = useResource(
    (signal) => (agentId ? api.get<Agent>(`/v1/agents/${agentId}`, { signal }) : Promise.resolve(null)),
    [api, agentId],
  );
  const versions = useResource(
    (signal) =>
      agentId ? api.get<Page<Agent>>(`/v1/agents/${agentId}/versions`, { query: { limit: 50 }, signal }) : Promise.resolve(null),
    [api, agentId, existing.data?.version],
  );
  const [spec, setSpec] = useState<AgentSpec>(DEFAULT_SPEC);
  const [texts, setTexts] = useState<Texts>(textsOf(DEFAULT_SPEC));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const ids = useId();

  const [loadedVersion, setLoadedVersion] = useState<number | null>(null);
  if (existing.data && loadedVersion !== existing.data.version) {
    // The form starts from each version the server hands back (derived state, set while rendering).
    setLoadedVersion(existing.data.version);
    setSpec(specOf(existing.data));
    setTexts(textsOf(specOf(existing.data)));
  }

  if (!agentId && !editable) return <Empty>Your role cannot create agents.</Empty>;
  if (agentId && existing.loading && !existing.data) return <Loading label="Loading agent…" />;
  if (agentId && existing.error && !existing.data) return <ErrorNotice error={existing.error} onRetry={existing.reload} />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body: AgentSpec = {
      ...spec,
      models: { reasoning: list(texts.reasoning), code: list(texts.code), vision: list(texts.vision) },
      limits: limitsBody(spec.limits),
      critic: {
        mode: spec.critic.mode,
        allow_imports: list(texts.allow),
        forbid_imports: list(texts.forbid),
        allow_calls: list(texts.calls),
      },
    };
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      if (agentId && existing.data) {
        const updated = await api.put<Agent>(`/v1/agents/${agentId}`, { ...body, expected_version: existing.data.version });
        existing.setData(() => updated);
        setSaved(`Saved as version ${updated.version}.`);
      } else {
        const created = await api.post<Agent>("/v1/agents", body);
        navigate(`/agents/${created.id}`);
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const toggleTool = (tool: ToolName, on: boolean) =>
    setSpec({ ...spec, tools: on ? [...spec.tools, tool] : spec.tools.filter((t) => t !== tool) });
  const setLimit = (field: LimitField, text: string) =>
    setSpec({ ...spec, limits: { ...spec.limits, [field.name]: text === "" && field.blank ? null : Number(text) } });
  // A cost budget the server cannot check (a model without a price) points at the field that set it.
  const unpriced = error instanceof ApiError && error.code === "unpriced_model";

  return (
    <section aria-labelledby="agent-title">
      <p>
        <Link to="/agents">← Agents</Link>
      </p>
      <h1 id="agent-title">{agentId ? `Agent ${existing.data?.name ?? ""}` : "New agent"}</h1>
      {existing.data && <p className="muted">Version {existing.data.version}. Saving makes a new version; runs keep the version they started with.</p>}
      <form onSubmit={submit} className="stack">
        <fieldset disabled={!editable || busy} className="plain">
          <label>
            Name
            <input
              value={spec.name}
              onChange={(e) => setSpec({ ...spec, name: e.target.value })}
              required
              maxLength={64}
              pattern="[a-z0-9][a-z0-9._\-]*"
              title="Lower-case letters, digits, dot, dash and underscore; starting with a letter or digit"
            />
          </label>
          <label>
            Description
            <input value={spec.description} onChange={(e) => setSpec({ ...spec, description: e.target.value })} maxLength={2000} />
          </label>
          <label>
            System prompt
            <textarea
              value={spec.system_prompt}
              onChange={(e) => setSpec({ ...spec, system_prompt: e.target.value })}
              rows={4}
              maxLength={20_000}
            />
          </label>
          <fieldset>
            <legend>Models per role</legend>
            <p className="muted">{MODEL_HELP}</p>
            {MODEL_ROLES.map(({ role, label }) => (
              <label key={role}>
                {label}
                <input
                  value={texts[role]}
                  onChange={(e) => setTexts({ ...texts, [role]: e.target.value })}
                  required={role === "reasoning"}
                />
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Tools</legend>
            {ALL_TOOLS.map((tool) => (
              <label key={tool} className="check">
                <input
                  type="checkbox"
                  checked={tool === "finish" || spec.tools.includes(tool)}
                  disabled={tool === "finish"}
                  onChange={(e) => toggleTool(tool, e.target.checked)}
                />
                <code>{tool}</code>
                {tool === "finish" && <span className="muted"> (always available)</span>}
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Limits</legend>
            <div className="grid">
              {LIMITS.map((field) => {
                const hintId = `${ids}-${field.name}-hint`;
                const invalid = field.name === "max_cost_usd" && unpriced;
                return (
                  <div key={field.name}>
                    <label>
                      {field.label}
                      <input
                        type="number"
                        required={!field.blank}
                        min={field.min}
                        max={field.max}
                        step={field.step ?? "1"}
                        placeholder={field.blank?.placeholder}
                        aria-describedby={field.blank ? hintId : undefined}
                        aria-invalid={invalid || undefined}
                        value={spec.limits[field.name] ?? ""}
                        onChange={(e) => setLimit(field, e.target.value)}
                      />
                    </label>
                    {field.blank && (
                      <p id={hintId} className={invalid ? "field-hint field-error" : "field-hint muted"}>
                        {invalid ? "A model of this agent has no price, so this budget cannot be checked: leave it blank or choose priced models." : field.blank.hint}
                      </p>
                    )}
                  </div>
                );
              })}
            </div>
          </fieldset>
          <fieldset>
            <legend>Critic</legend>
            <p className="muted">Each cell is checked before it runs. Whatever the mode, the sandbox contains the code.</p>
            <fieldset className="modes">
              <legend>Mode</legend>
              {CRITIC_MODES.map((mode) => (
                <div key={mode}>
                  <label className="check">
                    <input
                      type="radio"
                      name={`${ids}-critic-mode`}
                      value={mode}
                      checked={spec.critic.mode === mode}
                      aria-describedby={`${ids}-mode-${mode}`}
                      onChange={() => setSpec({ ...spec, critic: { ...spec.critic, mode } })}
                    />
                    {CRITIC_MODE_HELP[mode].label}
                  </label>
                  <p id={`${ids}-mode-${mode}`} className="field-hint muted">
                    {CRITIC_MODE_HELP[mode].help}
                  </p>
                </div>
              ))}
            </fieldset>
            <label>
              Also allow imports (comma-separated)
              <input value={texts.allow} onChange={(e) => setTexts({ ...texts, allow: e.target.value })} />
            </label>
            <label>
              Also forbid imports (comma-separated)
              <input value={texts.forbid} onChange={(e) => setTexts({ ...texts, forbid: e.target.value })} />
            </label>
            <label>
              Allowed calls (comma-separated, e.g. os.system, subprocess.*)
              <input value={texts.calls} onChange={(e) => setTexts({ ...texts, calls: e.target.value })} />
            </label>
          </fieldset>
        </fieldset>
        <ErrorNotice error={error} />
        {saved && (
          <p className="state ok" role="status">
            {saved}
          </p>
        )}
        {editable && (
          <div className="actions">
            <button type="submit" disabled={busy}>
              {busy ? "Saving…" : agentId ? "Save as a new version" : "Create agent"}
            </button>
          </div>
        )}
      </form>
      {agentId && (
        <section aria-labelledby="versions-title">
          <h2 id="versions-title">Version history</h2>
          <ErrorNotice error={versions.error} onRetry={versions.reload} />
          {versions.loading && !versions.data ? (
            <Loading label="Loading versions…" />
          ) : (
            <ul className="versions">
              {versions.data?.items.map((version) => (
                <li key={version.version}>
                  <details>
                    <summary>
                      Version {version.version} · {formatTime(version.updated_at)} · reasoning {version.models.reasoning.join(" → ")}
                    </summary>
                    <pre className="stream">{JSON.stringify(specOf(version), null, 2)}</pre>
                  </details>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </section>
  );
}
