import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { Page, Run } from "../api/types";
import { RUN_STATUSES } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { Cost } from "../components/Cost";
import { StatusBadge } from "../components/StatusBadge";
import { formatDuration, formatTime, runDuration, statusLabel } from "../lib/format";
import { useAgents } from "../lib/useAgents";
import { useResource } from "../lib/useResource";

export const RUNS_POLL_MS = 3000;
const PAGE_SIZE = 25;

export function RunsPage() {
  const api = useApi();
  const { can } = useAuth();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const agentId = params.get("agent") ?? "";
  const agents = useAgents();
  const names = new Map((agents.data ?? []).map((agent) => [agent.id, agent.name]));
  const runs = useResource(
    (signal) => api.get<Page<Run>>("/v1/runs", { query: { status, agent_id: agentId, limit: PAGE_SIZE }, signal }),
    [api, status, agentId],
    () => RUNS_POLL_MS,
  );
  const [older, setOlder] = useState<{ key: string; items: Run[]; cursor: string | null; error: unknown }>({
    key: "",
    items: [],
    cursor: null,
    error: null,
  });
  const filterKey = `${status}|${agentId}`;
  const extra = older.key === filterKey ? older : { key: filterKey, items: [], cursor: null, error: null };
  const firstIds = new Set(runs.data?.items.map((run) => run.id));
  const items = [...(runs.data?.items ?? []), ...extra.items.filter((run) => !firstIds.has(run.id))];
  const nextCursor = extra.items.length ? extra.cursor : (runs.data?.next_cursor ?? null);

  const loadMore = async () => {
    try {
      const page = await api.get<Page<Run>>("/v1/runs", {
        query: { status, agent_id: agentId, limit: PAGE_SIZE, cursor: nextCursor },
      });
      setOlder({ key: filterKey, items: [...extra.items, ...page.items], cursor: page.next_cursor, error: null });
    } catch (error) {
      setOlder({ ...extra, error });
    }
  };

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  return (
    <section aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Runs</h1>
        {can("runs.create") && (
          <Link className="button" to="/runs/new">
            New run
          </Link>
        )}
      </div>
      <div className="filters" role="search">
        <label>
          Status
          <select value={status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">Any status</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <select value={agentId} onChange={(e) => setFilter("agent", e.target.value)}>
            <option value="">Any agent</option>
            {(agents.data ?? []).map((agent) => (
              <option key={agent.id} value={agent.id}>
                {agent.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={runs.error} onRetry={runs.reload} />
      {runs.loading && !runs.data ? (
        <Loading label="Loading runs…" />
      ) : items.length === 0 && runs.data ? (
        <Empty>
          {status || agentId ? "No runs match these filters." : "No runs yet."}
          {can("runs.create") && !status && !agentId && (
            <>
              {" "}
              <Link to="/runs/new">Start the first one.</Link>
            </>
          )}
        </Empty>
      ) : items.length > 0 ? (
        <table className="runs responsive">
          <caption className="visually-hidden">Runs, newest first, updating every few seconds</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Agent</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {items.map((run) => (
              <tr key={run.id} data-run-id={run.id}>
                <td data-label="Run">
                  <Link to={`/runs/${run.id}`} className="prompt-link">
                    {run.prompt.length > 80 ? `${run.prompt.slice(0, 80)}…` : run.prompt}
                  </Link>
                </td>
                <td data-label="Status">
                  <StatusBadge status={run.status} />
                </td>
                <td data-label="Agent">{names.get(run.agent_id) ?? run.agent_id}</td>
                <td data-label="Started">{formatTime(run.started_at ?? run.created_at)}</td>
                <td data-label="Duration">{formatDuration(runDuration(run))}</td>
                <td data-label="Cost">
                  <Cost usd={run.usage.cost_usd} known={run.usage.cost_known} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorNotice error={extra.error} />
      {nextCursor && (
        <button type="button" className="secondary" onClick={loadMore}>
          Load older runs
        </button>
      )}
    </section>
  );
}
