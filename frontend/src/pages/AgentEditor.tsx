import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { Agent, AgentLimits, AgentSpec, Page, ToolName } from "../api/types";
import { ALL_TOOLS } from "../api/types";
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
    max_cost_usd: 5,
    max_wall_s: 1800,
    cell_timeout_s: 120,
    sandbox_cpu: 1,
    sandbox_memory_mb: 1024,
  },
  critic: { allow_imports: [], forbid_imports: [] },
};

const LIMITS: { name: keyof AgentLimits; label: string; min: number; max: number; step?: string }[] = [
  { name: "max_steps", label: "Max steps", min: 1, max: 200 },
  { name: "max_tokens", label: "Max tokens", min: 1000, max: 10_000_000 },
  { name: "max_cost_usd", label: "Max cost (USD)", min: 0, max: 1000, step: "0.01" },
  { name: "max_wall_s", label: "Max wall time (s)", min: 10, max: 86_400 },
  { name: "cell_timeout_s", label: "Cell timeout (s)", min: 1, max: 900 },
  { name: "sandbox_cpu", label: "Sandbox vCPU", min: 0.25, max: 4, step: "0.25" },
  { name: "sandbox_memory_mb", label: "Sandbox memory (MB)", min: 256, max: 8192 },
];

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
  return { name, description, system_prompt, models, tools, limits, critic };
}

type Texts = Record<"reasoning" | "code" | "vision" | "allow" | "forbid", string>;

function textsOf(spec: AgentSpec): Texts {
  return {
    reasoning: spec.models.reasoning.join(", "),
    code: spec.models.code.join(", "),
    vision: spec.models.vision.join(", "),
    allow: spec.critic.allow_imports.join(", "),
    forbid: spec.critic.forbid_imports.join(", "),
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

  const [loadedVersion, setLoadedVersion] = useState<number | null>(null);
  if (existing.data && loadedVersion !== existing.data.version) {
    // The form starts from each version the server hands back (derived state, set while rendering).
    setLoadedVersion(existing.data.version);
    setSpec(specOf(existing.data));
    setTexts(textsOf(existing.data));
  }

  if (!agentId && !editable) return <Empty>Your role cannot create agents.</Empty>;
  if (agentId && existing.loading && !existing.data) return <Loading label="Loading agent…" />;
  if (agentId && existing.error && !existing.data) return <ErrorNotice error={existing.error} onRetry={existing.reload} />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body: AgentSpec = {
      ...spec,
      models: { reasoning: list(texts.reasoning), code: list(texts.code), vision: list(texts.vision) },
      critic: { allow_imports: list(texts.allow), forbid_imports: list(texts.forbid) },
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
              {LIMITS.map((field) => (
                <label key={field.name}>
                  {field.label}
                  <input
                    type="number"
                    required
                    min={field.min}
                    max={field.max}
                    step={field.step ?? "1"}
                    value={spec.limits[field.name]}
                    onChange={(e) => setSpec({ ...spec, limits: { ...spec.limits, [field.name]: Number(e.target.value) } })}
                  />
                </label>
              ))}
            </div>
          </fieldset>
          <fieldset>
            <legend>Critic policy</legend>
            <label>
              Also allow imports (comma-separated)
              <input value={texts.allow} onChange={(e) => setTexts({ ...texts, allow: e.target.value })} />
            </label>
            <label>
              Also forbid imports (comma-separated)
              <input value={texts.forbid} onChange={(e) => setTexts({ ...texts, forbid: e.target.value })} />
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
