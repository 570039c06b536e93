import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { Agent, Artifact, Page, Run, RunCreate, Step } from "../api/types";
import { COST_COMPONENTS, TERMINAL_STATUSES } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Previewed } from "../components/FullOutput";
import { Cost } from "../components/Cost";
import { ErrorNotice, Loading } from "../components/States";
import { ScriptedLabel, StatusBadge } from "../components/StatusBadge";
import { ArtifactView, StepView } from "../components/StepView";
import { formatDuration, formatTime, runDuration } from "../lib/format";
import { isRepoRun, REPOS_WRITE, shortSha } from "../lib/repos";
import { COMPONENT_LABELS } from "../lib/usageCharts";
import { nextDelay } from "../lib/useResource";

export const STEPS_POLL_MS = 1000;

interface Live {
  run: Run | null;
  steps: Step[];
  artifacts: Artifact[];
  agent: Agent | null;
  error: unknown;
}

/** Follow a run: poll it and its new steps (`after` the last seq) every second until it ends. */
function useLiveRun(runId: string, generation: number) {
  const api = useApi();
  const [live, setLive] = useState<Live>({ run: null, steps: [], artifacts: [], agent: null, error: null });
  const lastSeq = useRef(0);
  const knownRun = useRef("");

  useEffect(() => {
    if (knownRun.current !== runId) {
      knownRun.current = runId;
      lastSeq.current = 0;
      setLive({ run: null, steps: [], artifacts: [], agent: null, error: null });
    }
    const controller = new AbortController();
    const { signal } = controller;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let artifactCount = -1;
    let agentLoaded = false;

    const tick = async () => {
      let done = false;
      let failure: unknown = null;
      try {
        const run = await api.get<Run>(`/v1/runs/${runId}`, { signal });
        const fresh: Step[] = [];
        for (;;) {
          const page = await api.get<Page<Step>>(`/v1/runs/${runId}/steps`, {
            query: { after: lastSeq.current, limit: 200 },
            signal,
          });
          const items = page.items.filter((step) => step.seq > lastSeq.current);
          fresh.push(...items);
          if (items.length) lastSeq.current = Math.max(...items.map((step) => step.seq));
          if (!page.next_cursor || !items.length) break;
        }
        const referenced = [...fresh].reduce(
          (count, step) => count + (Array.isArray(step.detail?.artifacts) ? (step.detail.artifacts as unknown[]).length : 0),
          0,
        );
        const terminal = TERMINAL_STATUSES.has(run.status);
        let artifacts: Artifact[] | null = null;
        if (artifactCount < 0 || referenced > 0 || terminal) {
          artifacts = (await api.get<Page<Artifact>>(`/v1/runs/${runId}/artifacts`, { signal })).items;
          artifactCount = artifacts.length;
        }
        let agent: Agent | null = null;
        // A repo run has no agent (its agent_id is ""): there is nothing to load.
        if (!agentLoaded && run.agent_id) {
          agent = await api.get<Agent>(`/v1/agents/${run.agent_id}`, { signal }).catch(() => null);
          agentLoaded = true;
        }
        if (signal.aborted) return;
        setLive((current) => ({
          run,
          steps: fresh.length ? [...current.steps, ...fresh] : current.steps,
          artifacts: artifacts ?? current.artifacts,
          agent: agent ?? current.agent,
          error: null,
        }));
        done = terminal;
      } catch (error) {
        if (signal.aborted) return;
        failure = error;
        setLive((current) => ({ ...current, error }));
      }
      if (!done && !signal.aborted) timer = setTimeout(tick, nextDelay(failure, STEPS_POLL_MS));
    };
    void tick();
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [api, runId, generation]);

  return live;
}

function DecisionForm({ runId, onDone }: { runId: string; onDone: (run: Run) => void }) {
  const api = useApi();
  const [decision, setDecision] = useState<"approve" | "reject" | null>(null);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!decision) return;
    setBusy(true);
    setError(null);
    try {
      onDone(await api.post<Run>(`/v1/runs/${runId}/${decision}`, comment.trim() ? { comment: comment.trim() } : {}));
      setDecision(null);
      setComment("");
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  if (!decision) {
    return (
      <div className="actions">
        <button type="button" onClick={() => setDecision("approve")}>
          Approve…
        </button>
        <button type="button" className="danger" onClick={() => setDecision("reject")}>
          Reject…
        </button>
      </div>
    );
  }
  return (
    <form onSubmit={submit} className="decision">
      <label>
        Comment (optional)
        <textarea value={comment} onChange={(e) => setComment(e.target.value)} maxLength={4000} rows={3} autoFocus />
      </label>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className={decision === "reject" ? "danger" : undefined} disabled={busy}>
          {decision === "approve" ? "Confirm approval" : "Confirm rejection"}
        </button>
        <button type="button" className="secondary" onClick={() => setDecision(null)} disabled={busy}>
          Back
        </button>
      </div>
    </form>
  );
}

function rerunBody(run: Run): RunCreate {
  return {
    agent_id: run.agent_id,
    prompt: run.prompt,
    file_ids: run.file_ids,
    env: run.env,
    ...(run.goal ? { goal: run.goal } : {}),
    budget: run.budget,
    ...(run.script ? { script: run.script } : {}),
  };
}

export function RunPage() {
  const { runId = "" } = useParams();
  const api = useApi();
  const { can } = useAuth();
  const navigate = useNavigate();
  const [generation, setGeneration] = useState(0);
  const live = useLiveRun(runId, generation);
  const [override, setOverride] = useState<Run | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = override && live.run && override.revision > live.run.revision ? override : live.run;
  const artifacts = useMemo(() => new Map(live.artifacts.map((a) => [a.id, a])), [live.artifacts]);
  const shownInSteps = new Set(
    live.steps.flatMap((step) => (Array.isArray(step.detail?.artifacts) ? (step.detail.artifacts as { id: string }[]).map((a) => a.id) : [])),
  );

  if (!run) {
    return live.error ? <ErrorNotice error={live.error} onRetry={() => setGeneration((g) => g + 1)} /> : <Loading label="Loading run…" />;
  }
  const terminal = TERMINAL_STATUSES.has(run.status);
  const scripted =
    live.steps.some((step) => step.provider === "scripted") ||
    Boolean(run.script) ||
    Boolean(live.agent?.models.reasoning.includes("scripted"));

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setActionError(null);
    try {
      await action();
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(false);
    }
  };
  const changed = (updated: Run) => {
    setOverride(updated);
    setGeneration((g) => g + 1);
  };

  return (
    <article aria-labelledby="run-title" className="run-page">
      <p>
        <Link to="/">← Runs</Link>
      </p>
      <div className="page-head">
        <h1 id="run-title">Run</h1>
        <StatusBadge status={run.status} />
        {scripted && <ScriptedLabel />}
        {!terminal && (
          <span className="live" role="status">
            live
          </span>
        )}
      </div>
      <p className="prompt">{run.prompt}</p>
      <dl className="facts summary">
        <dt>Agent</dt>
        <dd>
          {!run.agent_id ? (
            "none"
          ) : (
            <>
              {live.agent ? <Link to={`/agents/${live.agent.id}`}>{live.agent.name}</Link> : run.agent_id} (version {run.agent_version})
            </>
          )}
        </dd>
        {isRepoRun(run) && run.repo && (
          <>
            <dt>Repository</dt>
            <dd>
              <Link to={`/repos/${run.repo.repo_id}`}>{run.repo.repo_id}</Link>
              {run.repo.branch && <> · {run.repo.branch}</>} · commit <code>{shortSha(run.repo.commit_sha ?? run.repo.sha)}</code>
            </dd>
          </>
        )}
        <dt>Started</dt>
        <dd>{formatTime(run.started_at ?? run.created_at)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(runDuration(run))}</dd>
        <dt>Steps</dt>
        <dd>
          {run.step_count} ({run.usage.steps} model turns{run.budget.max_steps ? ` of ${run.budget.max_steps}` : ""})
        </dd>
        <dt>Tokens</dt>
        <dd>
          {run.usage.input_tokens} in / {run.usage.output_tokens} out
        </dd>
        <dt>Cost</dt>
        <dd>
          <Cost usd={run.usage.cost_usd} known={run.usage.cost_known} />
        </dd>
        {run.cost && (
          <>
            <dt>Cost by component</dt>
            <dd>
              <ul className="inline-list" aria-label="Cost by component">
                {COST_COMPONENTS.map((component) => (
                  <li key={component}>
                    {COMPONENT_LABELS[component]} <Cost usd={run.cost?.[component] ?? 0} known={component !== "model" || run.usage.cost_known} />
                  </li>
                ))}
                <li>
                  Total <Cost usd={run.cost.total} known={run.usage.cost_known} />
                </li>
              </ul>
            </dd>
          </>
        )}
        <dt>Sandbox</dt>
        <dd>{run.usage.sandbox_s.toFixed(1)} s</dd>
        {run.schedule_id && (
          <>
            <dt>Schedule</dt>
            <dd>
              <Link to={`/schedules/${run.schedule_id}`}>{run.schedule_id}</Link>
            </dd>
          </>
        )}
        {run.isolation && (
          <>
            <dt>Isolation</dt>
            <dd>{run.isolation}</dd>
          </>
        )}
      </dl>
      <div className="actions">
        {!terminal && can("runs.cancel") && (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => act(async () => changed(await api.post<Run>(`/v1/runs/${run.id}/cancel`)))}
          >
            Cancel run
          </button>
        )}
        {terminal && (isRepoRun(run) ? Boolean(run.repo) && can(REPOS_WRITE) : can("runs.create")) && (
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() =>
              act(async () => {
                // A repo run is started again from its repository, on the same branch and commit.
                const created =
                  isRepoRun(run) && run.repo
                    ? await api.startRepoRun(run.repo.repo_id, {
                        ...(run.repo.branch ? { branch: run.repo.branch } : {}),
                        ...(run.repo.sha ? { sha: run.repo.sha } : {}),
                      })
                    : await api.post<Run>("/v1/runs", rerunBody(run));
                navigate(`/runs/${created.id}`);
              })
            }
          >
            Rerun
          </button>
        )}
      </div>
      <ErrorNotice error={actionError} />
      {run.status === "waiting_approval" && (
        <section className="card approval-request" aria-labelledby="approval-title">
          <h2 id="approval-title">Waiting for approval</h2>
          {(() => {
            const asked = [...live.steps].reverse().find((step) => step.type === "think");
            const call = (asked?.detail?.tool_calls as { name: string; arguments: { reason?: string } }[] | undefined)?.find(
              (c) => c.name === "request_approval",
            );
            return call?.arguments?.reason ? <p>The agent asks: “{call.arguments.reason}”</p> : null;
          })()}
          {can("runs.approve") ? (
            <DecisionForm runId={run.id} onDone={changed} />
          ) : (
            <p className="muted">An operator or admin can approve or reject this run.</p>
          )}
        </section>
      )}
      {run.result && (
        <section className="card" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          <Previewed
            label="result"
            preview={run.result}
            output={run.result_full}
            renew={async () => (await api.get<Run>(`/v1/runs/${run.id}`)).result_full}
          >
            {(text) => <p className="answer">{text}</p>}
          </Previewed>
        </section>
      )}
      {run.error && (
        <section className="card error-card" aria-labelledby="error-title" role="alert">
          <h2 id="error-title">Error</h2>
          <p>
            <code>{run.error.code}</code> {run.error.message}
          </p>
        </section>
      )}
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        {live.error ? <ErrorNotice error={live.error} /> : null}
        {live.steps.length === 0 ? (
          terminal ? <p className="muted">This run recorded no steps.</p> : <Loading label="Waiting for the first step…" />
        ) : (
          <ol className="timeline" aria-live="polite">
            {live.steps.map((step, index) => (
              <StepView key={step.seq} step={step} artifacts={artifacts} ended={terminal && index === live.steps.length - 1} />
            ))}
          </ol>
        )}
      </section>
      {live.artifacts.length > 0 && (
        <section aria-labelledby="artifacts-title">
          <h2 id="artifacts-title">Artifacts</h2>
          <div className="artifacts">
            {live.artifacts.map((artifact) =>
              shownInSteps.has(artifact.id) ? (
                <p key={artifact.id}>
                  <a href={artifact.url ?? undefined} download={artifact.name}>
                    Download {artifact.name}
                  </a>
                </p>
              ) : (
                <ArtifactView key={artifact.id} artifact={artifact} />
              ),
            )}
          </div>
        </section>
      )}
      <details>
        <summary>Inputs</summary>
        <dl className="facts">
          <dt>Files</dt>
          <dd>{run.file_ids.length ? run.file_ids.join(", ") : "none"}</dd>
          <dt>Environment</dt>
          <dd>
            {Object.keys(run.env).length
              ? Object.entries(run.env)
                  .map(([name, v]) => `${name} (${v.type})`)
                  .join(", ")
              : "none"}
          </dd>
          <dt>Goal</dt>
          <dd>{run.goal ? [run.goal.criterion, run.goal.check && "a Python check"].filter(Boolean).join("; ") : "none"}</dd>
          <dt>Budget</dt>
          <dd>
            {Object.entries(run.budget)
              .filter(([, v]) => v != null)
              .map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`)
              .join(", ") || "the agent's limits"}
          </dd>
        </dl>
      </details>
    </article>
  );
}
