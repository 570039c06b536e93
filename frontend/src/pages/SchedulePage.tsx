import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { Page, Run, Schedule, ScheduleFire } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { ScheduleStatusBadge } from "../components/StatusBadge";
import { formatCost, formatTime, statusLabel } from "../lib/format";
import { useAgents } from "../lib/useAgents";
import { useResource } from "../lib/useResource";

const FIRES_PAGE_SIZE = 25;

function limits(values: Record<string, number | null | undefined>, labels: Record<string, (value: number) => string>): string {
  const parts = Object.entries(labels).flatMap(([name, label]) => (values[name] != null ? [label(values[name]!)] : []));
  return parts.length ? parts.join(" · ") : "none";
}

export function SchedulePage() {
  const { scheduleId = "" } = useParams();
  const api = useApi();
  const { can } = useAuth();
  const navigate = useNavigate();
  const agents = useAgents();
  const path = `/v1/schedules/${encodeURIComponent(scheduleId)}`;
  const schedule = useResource((signal) => api.get<Schedule>(path, { signal }), [api, path]);
  const fires = useResource((signal) => api.get<Page<ScheduleFire>>(`${path}/fires`, { query: { limit: FIRES_PAGE_SIZE }, signal }), [api, path]);
  const [olderFires, setOlderFires] = useState<{ items: ScheduleFire[]; cursor: string | null }>({ items: [], cursor: null });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<{ text: string; runId?: string } | null>(null);
  const [pausing, setPausing] = useState(false);
  const [pauseReason, setPauseReason] = useState("");

  if (schedule.loading && !schedule.data) return <Loading label="Loading schedule…" />;
  if (schedule.error && !schedule.data) return <ErrorNotice error={schedule.error} onRetry={schedule.reload} />;
  const current = schedule.data;
  if (!current) return <Empty>There is no such schedule.</Empty>;
  const agentName = agents.data?.find((a) => a.id === current.agent_id)?.name ?? current.agent_id;
  const writable = can("schedules.write");
  const fireItems = [...(fires.data?.items ?? []), ...olderFires.items];
  const firesCursor = olderFires.items.length ? olderFires.cursor : (fires.data?.next_cursor ?? null);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await action();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const pause = (event: FormEvent) => {
    event.preventDefault();
    return act(async () => {
      const reason = pauseReason.trim();
      const updated = await api.post<Schedule>(`${path}/pause`, reason ? { reason } : undefined);
      schedule.setData(() => updated);
      setPausing(false);
      setPauseReason("");
    });
  };
  const resume = () =>
    act(async () => {
      if (!window.confirm(`Resume “${current.name}”? It fires again from its next time.`)) return;
      const updated = await api.post<Schedule>(`${path}/resume`);
      schedule.setData(() => updated);
    });
  const runNow = () =>
    act(async () => {
      if (!window.confirm(`Start a run of “${current.name}” now? It counts towards the daily budget.`)) return;
      const run = await api.post<Run>(`${path}/run-now`);
      setNotice({ text: `Started run ${run.id}.`, runId: run.id });
      fires.reload();
    });
  const remove = () =>
    act(async () => {
      if (!window.confirm(`Delete “${current.name}”? It stops firing; the runs it started stay.`)) return;
      await api.delete(path);
      navigate("/schedules");
    });
  const loadOlderFires = () =>
    act(async () => {
      const page = await api.get<Page<ScheduleFire>>(`${path}/fires`, { query: { limit: FIRES_PAGE_SIZE, cursor: firesCursor } });
      setOlderFires({ items: [...olderFires.items, ...page.items], cursor: page.next_cursor });
    });

  return (
    <section aria-labelledby="schedule-title">
      <p>
        <Link to="/schedules">← Schedules</Link>
      </p>
      <div className="page-head">
        <h1 id="schedule-title">{current.name}</h1>
        <ScheduleStatusBadge status={current.status} reason={current.paused_reason} />
      </div>
      {writable && (
        <div className="actions">
          <Link className="button secondary" to={`/schedules/${current.id}/edit`}>
            Edit
          </Link>
          {current.status === "paused" ? (
            <button type="button" className="secondary" disabled={busy} onClick={resume}>
              Resume
            </button>
          ) : (
            <button
              type="button"
              className="secondary"
              disabled={busy || pausing || current.status === "disabled"}
              aria-expanded={pausing}
              onClick={() => setPausing(true)}
            >
              Pause
            </button>
          )}
          <button type="button" className="secondary" disabled={busy} onClick={runNow}>
            Run now
          </button>
          <button type="button" className="danger" disabled={busy} onClick={remove}>
            Delete
          </button>
        </div>
      )}
      {pausing && current.status === "active" && (
        <form className="card inline-form" onSubmit={pause} aria-label="Pause the schedule">
          <label>
            Why pause it? (optional, shown with the schedule)
            <input value={pauseReason} onChange={(e) => setPauseReason(e.target.value)} maxLength={500} />
          </label>
          <button type="submit" disabled={busy}>
            Pause schedule
          </button>
          <button type="button" className="secondary" onClick={() => setPausing(false)}>
            Cancel
          </button>
        </form>
      )}
      <ErrorNotice error={error} />
      {notice && (
        <p className="state ok" role="status">
          {notice.text} {notice.runId && <Link to={`/runs/${notice.runId}`}>Open the run</Link>}
        </p>
      )}
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          {current.status}
          {current.paused_reason && ` — ${current.paused_reason}`}
        </dd>
        <dt>Failures in a row</dt>
        <dd>
          {current.consecutive_failures} (pauses at {current.auto_pause_after})
        </dd>
        <dt>When</dt>
        <dd>
          {current.description || "—"}{" "}
          <span className="muted mono">
            {current.expression} · {current.timezone}
          </span>
        </dd>
        <dt>Next fires</dt>
        <dd>
          {current.next_fires.length ? (
            <ol className="fires-list">
              {current.next_fires.map((time) => (
                <li key={time}>
                  <time dateTime={time}>{formatTime(time)}</time>
                </li>
              ))}
            </ol>
          ) : (
            "none"
          )}
          {current.status !== "active" && current.next_fires.length > 0 && <p className="muted">Skipped while the schedule is {current.status}.</p>}
        </dd>
        <dt>Agent</dt>
        <dd>
          <Link to={`/agents/${current.agent_id}`}>{agentName}</Link> ({current.agent_version == null ? "latest version" : `version ${current.agent_version}`})
        </dd>
        <dt>Daily budget</dt>
        <dd>
          {limits(current.daily_budget as Record<string, number | null>, {
            max_runs: (v) => `${v} runs`,
            max_cost_usd: (v) => formatCost(v),
            max_sandbox_minutes: (v) => `${v} sandbox min`,
          })}
        </dd>
        <dt>Run budget</dt>
        <dd>
          {limits(current.budget as Record<string, number | null>, {
            max_steps: (v) => `${v} steps`,
            max_tokens: (v) => `${v} tokens`,
            max_cost_usd: (v) => formatCost(v),
            max_wall_s: (v) => `${v} s`,
          })}
        </dd>
        <dt>Prompt</dt>
        <dd className="prompt">{current.prompt}</dd>
        {current.goal?.criterion && (
          <>
            <dt>Goal</dt>
            <dd>{current.goal.criterion}</dd>
          </>
        )}
        {Object.keys(current.env).length > 0 && (
          <>
            <dt>Environment</dt>
            <dd>{Object.entries(current.env).map(([name, v]) => `${name} (${v.type})`).join(", ")}</dd>
          </>
        )}
        {current.file_ids.length > 0 && (
          <>
            <dt>Files</dt>
            <dd className="mono">{current.file_ids.join(", ")}</dd>
          </>
        )}
        <dt>Last fire</dt>
        <dd>{formatTime(current.last_fire_at)}</dd>
      </dl>

      <h2 id="fires-title">Fire history</h2>
      <ErrorNotice error={fires.error} onRetry={fires.reload} />
      {fires.loading && !fires.data ? (
        <Loading label="Loading fires…" />
      ) : fireItems.length === 0 ? (
        <Empty>It has not fired yet.</Empty>
      ) : (
        <table className="responsive" aria-labelledby="fires-title">
          <thead>
            <tr>
              <th scope="col">Scheduled for</th>
              <th scope="col">Outcome</th>
              <th scope="col">Run</th>
            </tr>
          </thead>
          <tbody>
            {fireItems.map((fire) => (
              <tr key={fire.scheduled_time}>
                <td data-label="Scheduled for">
                  <time dateTime={fire.scheduled_time}>{formatTime(fire.scheduled_time)}</time>
                </td>
                <td data-label="Outcome">
                  {fire.outcome}
                  {fire.reason && ` (${statusLabel(fire.reason)})`}
                </td>
                <td data-label="Run">{fire.run_id ? <Link to={`/runs/${fire.run_id}`}>{fire.run_id}</Link> : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {firesCursor && (
        <button type="button" className="secondary" disabled={busy} onClick={loadOlderFires}>
          Load older fires
        </button>
      )}
    </section>
  );
}
