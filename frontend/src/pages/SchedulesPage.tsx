import { useState } from "react";
import { Link } from "react-router-dom";
import type { Page, Schedule } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { ScheduleStatusBadge } from "../components/StatusBadge";
import { formatTime } from "../lib/format";
import { useAgents } from "../lib/useAgents";
import { useResource } from "../lib/useResource";

const PAGE_SIZE = 50;

export function SchedulesPage() {
  const api = useApi();
  const { can } = useAuth();
  const agents = useAgents();
  const names = new Map((agents.data ?? []).map((agent) => [agent.id, agent.name]));
  const schedules = useResource((signal) => api.get<Page<Schedule>>("/v1/schedules", { query: { limit: PAGE_SIZE }, signal }), [api]);
  const [more, setMore] = useState<{ items: Schedule[]; cursor: string | null; error: unknown }>({ items: [], cursor: null, error: null });
  const firstIds = new Set(schedules.data?.items.map((s) => s.id));
  const items = [...(schedules.data?.items ?? []), ...more.items.filter((s) => !firstIds.has(s.id))];
  const nextCursor = more.items.length ? more.cursor : (schedules.data?.next_cursor ?? null);

  const loadMore = async () => {
    try {
      const page = await api.get<Page<Schedule>>("/v1/schedules", { query: { limit: PAGE_SIZE, cursor: nextCursor } });
      setMore({ items: [...more.items, ...page.items], cursor: page.next_cursor, error: null });
    } catch (error) {
      setMore({ ...more, error });
    }
  };

  return (
    <section aria-labelledby="schedules-title">
      <div className="page-head">
        <h1 id="schedules-title">Schedules</h1>
        {can("schedules.write") && (
          <Link className="button" to="/schedules/new">
            New schedule
          </Link>
        )}
      </div>
      <ErrorNotice error={schedules.error} onRetry={schedules.reload} />
      {schedules.loading && !schedules.data ? (
        <Loading label="Loading schedules…" />
      ) : items.length === 0 && schedules.data ? (
        <Empty>
          No schedules yet.
          {can("schedules.write") && (
            <>
              {" "}
              <Link to="/schedules/new">Create the first one.</Link>
            </>
          )}
        </Empty>
      ) : items.length > 0 ? (
        <table className="responsive">
          <caption className="visually-hidden">Schedules</caption>
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Status</th>
              <th scope="col">When</th>
              <th scope="col">Next fire</th>
              <th scope="col">Agent</th>
            </tr>
          </thead>
          <tbody>
            {items.map((schedule) => (
              <tr key={schedule.id} data-schedule-id={schedule.id}>
                <td data-label="Schedule">
                  <Link to={`/schedules/${schedule.id}`}>{schedule.name}</Link>
                </td>
                <td data-label="Status">
                  <ScheduleStatusBadge status={schedule.status} reason={schedule.paused_reason} />
                  {schedule.paused_reason && <div className="muted">{schedule.paused_reason}</div>}
                </td>
                <td data-label="When">
                  {schedule.description || schedule.expression}
                  <div className="muted mono">
                    {schedule.expression} · {schedule.timezone}
                  </div>
                </td>
                <td data-label="Next fire">{schedule.status === "active" && schedule.next_fires[0] ? formatTime(schedule.next_fires[0]) : "—"}</td>
                <td data-label="Agent">
                  {names.get(schedule.agent_id) ?? schedule.agent_id}
                  {schedule.agent_version != null && <span className="muted"> (version {schedule.agent_version})</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorNotice error={more.error} />
      {nextCursor && (
        <button type="button" className="secondary" onClick={loadMore}>
          Load more schedules
        </button>
      )}
    </section>
  );
}
