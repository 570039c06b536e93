import { useId, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import type { Baseline, CommandEvidence, RepoCommandName, RepoConfig, Run } from "../api/types";
import { BENCH_RUNS_MAX, BENCH_RUNS_MIN, TERMINAL_STATUSES } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { formatDuration, formatTime, statusLabel } from "../lib/format";
import {
  baselineArtifacts,
  commandNames,
  configUpdate,
  confirmUpdate,
  formatConfidence,
  formatSeconds,
  formChanged,
  formOf,
  isNoBaseline,
  pendingConfirmation,
  rebaseForm,
  REPOS_WRITE,
  shortSha,
  type ConfigForm,
} from "../lib/repos";
import { useResource } from "../lib/useResource";

const RUNS_PAGE_SIZE = 10;
/** A baseline installs and builds a whole project: runs are checked on this often while one is going. */
export const REPO_RUNS_POLL_MS = 3000;

function describeEvidence(evidence: CommandEvidence): string {
  const where = evidence.line != null ? `${evidence.file}:${evidence.line}` : evidence.file;
  return evidence.detail ? `${where} — ${evidence.detail}` : where;
}

function benchRunsError(text: string): string | null {
  if (!text.trim()) return null;
  const value = Number(text);
  return Number.isInteger(value) && value >= BENCH_RUNS_MIN && value <= BENCH_RUNS_MAX
    ? null
    : `Benchmark runs: a whole number from ${BENCH_RUNS_MIN} to ${BENCH_RUNS_MAX}.`;
}

function CommandsSection({ repoId, config, onSaved }: { repoId: string; config: RepoConfig; onSaved: (config: RepoConfig) => void }) {
  const api = useApi();
  const { can } = useAuth();
  const ids = useId();
  const writable = can(REPOS_WRITE);
  const [form, setForm] = useState<ConfigForm>(() => formOf(config));
  const [base, setBase] = useState<RepoConfig>(config);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [submitted, setSubmitted] = useState(false);

  if (base.revision !== config.revision) {
    // A newer config (saved here, or a command confirmed): unsaved edits stay on top of it.
    setBase(config);
    setForm(rebaseForm(form, base, config));
  }
  const pending = pendingConfirmation(config);
  const benchError = submitted ? benchRunsError(form.benchRuns) : null;
  const changed = formChanged(form, config);

  const act = async (update: () => Promise<RepoConfig>) => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      onSaved(await update());
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (benchRunsError(form.benchRuns)) return;
    if (await act(() => api.putRepoConfig(repoId, configUpdate(form, config)))) setSaved(true);
  };
  const confirm = (name: RepoCommandName) => act(() => api.putRepoConfig(repoId, confirmUpdate(config, name)));
  const setOverride = (name: string, text: string) => {
    setForm((current) => ({ ...current, overrides: { ...current.overrides, [name]: text } }));
    setSaved(false);
  };

  return (
    <section aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>Commands</h2>
      {config.detected ? (
        <dl className="facts">
          <dt>Detected</dt>
          <dd>
            {[config.detected.language, config.detected.package_manager, config.detected.framework].filter(Boolean).join(" · ") || "—"}{" "}
            <span className="muted">
              at commit <code>{shortSha(config.detected.commit_sha)}</code>, {formatTime(config.detected.detected_at)}
            </span>
          </dd>
          {config.detected.workspaces.length > 0 && (
            <>
              <dt>Workspaces</dt>
              <dd className="mono">{config.detected.workspaces.join(", ")}</dd>
            </>
          )}
          {config.detected.notes.length > 0 && (
            <>
              <dt>Notes</dt>
              <dd>
                <ul aria-label="Detection notes">
                  {config.detected.notes.map((note) => (
                    <li key={note}>{note}</li>
                  ))}
                </ul>
              </dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">Not detected yet: the first baseline run detects the commands. An override set now is used instead.</p>
      )}
      {pending.length > 0 && (
        <p className="state warn-text" role="status">
          {pending.length === 1 ? "1 command needs" : `${pending.length} commands need`} confirmation: {pending.join(", ")}. The detector is not sure of{" "}
          {pending.length === 1 ? "it" : "them"}; confirm or replace {pending.length === 1 ? "it" : "them"} before trusting a baseline.
        </p>
      )}
      <form onSubmit={save} noValidate aria-label="Command overrides">
        <table className="responsive commands">
          <caption className="visually-hidden">Commands</caption>
          <thead>
            <tr>
              <th scope="col">Command</th>
              <th scope="col">Runs</th>
              <th scope="col">Confidence</th>
              <th scope="col">Evidence</th>
              {writable && <th scope="col">Override</th>}
            </tr>
          </thead>
          <tbody>
            {commandNames(config).map((name) => {
              const effective = config.effective[name];
              return (
                <tr key={name} data-command={name}>
                  <th scope="row" data-label="Command">
                    {name}
                    {effective?.needs_confirmation && <span className="badge verdict-warn needs-confirmation">needs confirmation</span>}
                    {config.confirmed.includes(name) && !effective?.needs_confirmation && effective?.origin === "detected" && (
                      <span className="badge verdict-ok">confirmed</span>
                    )}
                  </th>
                  <td data-label="Runs">
                    {effective ? (
                      <>
                        <code>{effective.command}</code> <span className="muted">({effective.origin})</span>
                      </>
                    ) : (
                      <span className="muted">none</span>
                    )}
                  </td>
                  <td data-label="Confidence">{effective?.origin === "override" ? "—" : formatConfidence(effective?.confidence)}</td>
                  <td data-label="Evidence">
                    {effective?.evidence.length ? (
                      <ul className="evidence" aria-label={`Evidence for ${name}`}>
                        {effective.evidence.map((evidence, index) => (
                          <li key={index} className="mono">
                            {describeEvidence(evidence)}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      "—"
                    )}
                  </td>
                  {writable && (
                    <td data-label="Override">
                      <input
                        className="mono"
                        aria-label={`Override for ${name}`}
                        value={form.overrides[name] ?? ""}
                        placeholder={config.detected?.commands[name]?.command ?? "no command"}
                        onChange={(e) => setOverride(name, e.target.value)}
                      />
                      {effective?.needs_confirmation && (
                        <button type="button" className="secondary" disabled={busy} onClick={() => confirm(name)}>
                          Confirm {name}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
        {writable ? (
          <div className="stack">
            <p className="field-hint muted">An override runs instead of the detected command; a blank override uses the detected one.</p>
            <div>
              <label>
                Benchmark runs
                <input
                  type="number"
                  min={BENCH_RUNS_MIN}
                  max={BENCH_RUNS_MAX}
                  step="1"
                  value={form.benchRuns}
                  placeholder="the deployment's default"
                  onChange={(e) => setForm((current) => ({ ...current, benchRuns: e.target.value }))}
                  aria-invalid={benchError ? true : undefined}
                  aria-describedby={benchError ? `${ids}-bench-error` : undefined}
                />
              </label>
              {benchError && (
                <p id={`${ids}-bench-error`} className="field-hint field-error">
                  {benchError}
                </p>
              )}
            </div>
            <ErrorNotice error={error} />
            {saved && (
              <p className="state ok" role="status">
                Saved. The next baseline runs these commands.
              </p>
            )}
            <div className="actions">
              <button type="submit" disabled={busy || !changed}>
                {busy ? "Saving…" : "Save commands"}
              </button>
              {changed && (
                <button type="button" className="secondary" disabled={busy} onClick={() => setForm(formOf(config))}>
                  Discard changes
                </button>
              )}
            </div>
          </div>
        ) : (
          <p className="muted">
            The benchmark runs {config.bench_runs == null ? "the deployment's default number of" : config.bench_runs} times. An operator or admin can change the
            commands.
          </p>
        )}
      </form>
    </section>
  );
}

function RunBaselineForm({ repoId, defaultBranch, onStarted }: { repoId: string; defaultBranch: string; onStarted: (run: Run) => void }) {
  const api = useApi();
  const [branch, setBranch] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [started, setStarted] = useState<Run | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const run = await api.startRepoRun(repoId, branch.trim() ? { branch: branch.trim() } : {});
      setStarted(run);
      setBranch("");
      onStarted(run);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Run a baseline">
      <label>
        Branch (optional)
        <input value={branch} placeholder={defaultBranch} onChange={(e) => setBranch(e.target.value)} />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Starting…" : "Run baseline"}
      </button>
      <ErrorNotice error={error} />
      {started && (
        <p className="state ok" role="status">
          Started run {started.id}. <Link to={`/runs/${started.id}`}>Watch it live</Link>
        </p>
      )}
    </form>
  );
}

function TestsFigures({ tests }: { tests: NonNullable<Baseline["tests"]> }) {
  return (
    <div className="baseline-tests">
      <h4>Tests</h4>
      <p>
        <strong>{tests.passed} passed</strong> · {tests.failed} failed · {tests.errors} errors · {tests.skipped} skipped of {tests.total}{" "}
        <span className="muted">
          ({tests.source}, {formatDuration(tests.duration_s * 1000)})
        </span>
      </p>
      {tests.failures.length > 0 && (
        <>
          <h5>Failing tests</h5>
          <ul aria-label="Failing tests" className="mono">
            {tests.failures.map((name) => (
              <li key={name}>{name}</li>
            ))}
          </ul>
        </>
      )}
      {tests.flaky.length > 0 && (
        <>
          <h5>Flaky tests (passed and failed on the same commit)</h5>
          <ul aria-label="Flaky tests" className="mono">
            {tests.flaky.map((name) => (
              <li key={name}>{name}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function BenchmarkFigures({ benchmark }: { benchmark: NonNullable<Baseline["benchmark"]> }) {
  return (
    <div className="baseline-benchmark">
      <h4>Benchmark</h4>
      <p className="muted">
        {benchmark.runs} runs ({benchmark.source})
      </p>
      <table className="responsive" aria-label="Benchmark series">
        <thead>
          <tr>
            <th scope="col">Series</th>
            <th scope="col">Median</th>
            <th scope="col">95% CI of the median</th>
            <th scope="col">Min – max</th>
            <th scope="col">CV</th>
            <th scope="col">Samples</th>
          </tr>
        </thead>
        <tbody>
          {benchmark.series.map((series) => (
            <tr key={series.name}>
              <th scope="row" data-label="Series">
                {series.name}
              </th>
              <td data-label="Median">{formatSeconds(series.summary.median)}</td>
              <td data-label="95% CI of the median">
                {series.summary.ci95_median ? `${formatSeconds(series.summary.ci95_median[0])} – ${formatSeconds(series.summary.ci95_median[1])}` : "too few samples"}
              </td>
              <td data-label="Min – max">
                {formatSeconds(series.summary.min)} – {formatSeconds(series.summary.max)}
              </td>
              <td data-label="CV">{(series.summary.cv * 100).toFixed(1)}%</td>
              <td data-label="Samples">{series.summary.n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PhasesTable({ phases }: { phases: Baseline["phases"] }) {
  return (
    <table className="responsive" aria-label="Phases">
      <thead>
        <tr>
          <th scope="col">Phase</th>
          <th scope="col">Command</th>
          <th scope="col">Exit code</th>
          <th scope="col">Duration</th>
          <th scope="col">Limit</th>
          <th scope="col">Network</th>
        </tr>
      </thead>
      <tbody>
        {phases.map((phase, index) => (
          <tr key={`${phase.phase}-${index}`} className={phase.exit_code === 0 && !phase.limit ? undefined : "phase-failed"}>
            <th scope="row" data-label="Phase">
              {statusLabel(phase.phase)}
            </th>
            <td data-label="Command">
              <code>{phase.command}</code>
            </td>
            <td data-label="Exit code" className={phase.exit_code === 0 ? undefined : "error-text"}>
              {phase.exit_code ?? "—"}
            </td>
            <td data-label="Duration">{formatDuration(phase.duration_s * 1000)}</td>
            <td data-label="Limit">{phase.limit ? <span className="badge verdict-block">{phase.limit} limit</span> : "—"}</td>
            <td data-label="Network">{phase.network ? "on" : "off"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A finished run's baseline and the artifacts to read it in full. */
function BaselineView({ runId }: { runId: string }) {
  const api = useApi();
  const baseline = useResource((signal) => api.getBaseline(runId, signal), [api, runId]);
  const artifacts = useResource((signal) => api.listArtifacts(runId, signal), [api, runId]);
  const links = baselineArtifacts(artifacts.data?.items ?? []);

  let body;
  if (baseline.loading && !baseline.data) body = <Loading label="Loading the baseline…" />;
  else if (baseline.error && isNoBaseline(baseline.error)) body = <p className="muted">No baseline: the run ended before writing one.</p>;
  else if (baseline.error) body = <ErrorNotice error={baseline.error} onRetry={baseline.reload} />;
  else if (baseline.data) {
    const figures = baseline.data;
    body = (
      <>
        <p>
          Baseline <span className={`badge status-${figures.status}`}>{figures.status}</span> at commit <code>{shortSha(figures.commit_sha)}</code>
        </p>
        {figures.failure && (
          <p className="error-text" role="alert">
            <code>{figures.failure.code}</code> {figures.failure.message}
          </p>
        )}
        {figures.tests ? <TestsFigures tests={figures.tests} /> : <p className="muted">No test results.</p>}
        {figures.benchmark ? <BenchmarkFigures benchmark={figures.benchmark} /> : <p className="muted">No benchmark.</p>}
        {figures.phases.length > 0 && <PhasesTable phases={figures.phases} />}
        {figures.notes.length > 0 && (
          <ul aria-label="Baseline notes">
            {figures.notes.map((note) => (
              <li key={note}>{note}</li>
            ))}
          </ul>
        )}
      </>
    );
  }
  return (
    <div className="baseline">
      {body}
      {links.length > 0 && (
        <p className="actions">
          {links.map((artifact) =>
            artifact.url ? (
              <a key={artifact.id} href={artifact.url} download={artifact.name}>
                Download {artifact.name}
              </a>
            ) : (
              <span key={artifact.id} className="muted">
                {artifact.name}
              </span>
            ),
          )}
        </p>
      )}
    </div>
  );
}

function RepoRunItem({ run }: { run: Run }) {
  const terminal = TERMINAL_STATUSES.has(run.status);
  return (
    <li className="card repo-run" aria-label={`Run ${run.id}`}>
      <header className="page-head">
        <Link to={`/runs/${run.id}`}>{run.id}</Link>
        <StatusBadge status={run.status} />
        <span className="muted">
          {run.repo?.branch ?? "default branch"} · commit <code>{shortSha(run.repo?.commit_sha ?? run.repo?.sha)}</code> · {formatTime(run.created_at)}
        </span>
      </header>
      {run.error && (
        <p className="error-text">
          <code>{run.error.code}</code> {run.error.message}
        </p>
      )}
      {terminal ? <BaselineView runId={run.id} /> : <p className="muted">The baseline appears here when the run ends.</p>}
    </li>
  );
}

export function RepoPage() {
  const { repoId = "" } = useParams();
  const api = useApi();
  const { can } = useAuth();
  const repo = useResource((signal) => api.getRepo(repoId, signal), [api, repoId]);
  const config = useResource((signal) => api.getRepoConfig(repoId, signal), [api, repoId]);
  const runs = useResource(
    (signal) => api.listRepoRuns(repoId, { limit: RUNS_PAGE_SIZE, signal }),
    [api, repoId],
    (page) => (page?.items.some((run) => !TERMINAL_STATUSES.has(run.status)) ? REPO_RUNS_POLL_MS : null),
  );
  const [olderRuns, setOlderRuns] = useState<{ items: Run[]; cursor: string | null; error: unknown }>({ items: [], cursor: null, error: null });

  if (repo.loading && !repo.data) return <Loading label="Loading repository…" />;
  if (repo.error && !repo.data) return <ErrorNotice error={repo.error} onRetry={repo.reload} />;
  const current = repo.data;
  if (!current) return <Empty>There is no such repository.</Empty>;
  const firstIds = new Set(runs.data?.items.map((run) => run.id));
  const runItems = [...(runs.data?.items ?? []), ...olderRuns.items.filter((run) => !firstIds.has(run.id))];
  const runsCursor = olderRuns.items.length ? olderRuns.cursor : (runs.data?.next_cursor ?? null);

  const loadOlderRuns = async () => {
    try {
      const page = await api.listRepoRuns(repoId, { limit: RUNS_PAGE_SIZE, cursor: runsCursor });
      setOlderRuns({ items: [...olderRuns.items, ...page.items], cursor: page.next_cursor, error: null });
    } catch (error) {
      setOlderRuns({ ...olderRuns, error });
    }
  };

  return (
    <section aria-labelledby="repo-title">
      <p>
        <Link to="/repos">← Repos</Link>
      </p>
      <div className="page-head">
        <h1 id="repo-title">{current.name}</h1>
      </div>
      <dl className="facts">
        <dt>URL</dt>
        <dd className="mono">{current.url}</dd>
        <dt>Default branch</dt>
        <dd>{current.default_branch}</dd>
        <dt>Credentials</dt>
        <dd>{current.has_credentials ? "a token is stored" : "none (a public repository)"}</dd>
        <dt>Connected</dt>
        <dd>{formatTime(current.created_at)}</dd>
      </dl>

      <ErrorNotice error={config.error} onRetry={config.reload} />
      {config.loading && !config.data ? (
        <Loading label="Loading commands…" />
      ) : config.data ? (
        <CommandsSection repoId={current.id} config={config.data} onSaved={(updated) => config.setData(() => updated)} />
      ) : null}

      <section aria-labelledby="repo-runs-title">
        <h2 id="repo-runs-title">Runs</h2>
        {can(REPOS_WRITE) && <RunBaselineForm repoId={current.id} defaultBranch={current.default_branch} onStarted={() => runs.reload()} />}
        <ErrorNotice error={runs.error} onRetry={runs.reload} />
        {runs.loading && !runs.data ? (
          <Loading label="Loading runs…" />
        ) : runItems.length === 0 ? (
          <Empty>No runs yet.</Empty>
        ) : (
          <ol className="repo-runs" aria-label="Runs">
            {runItems.map((run) => (
              <RepoRunItem key={run.id} run={run} />
            ))}
          </ol>
        )}
        <ErrorNotice error={olderRuns.error} />
        {runsCursor && (
          <button type="button" className="secondary" onClick={loadOlderRuns}>
            Load older runs
          </button>
        )}
      </section>
    </section>
  );
}
