import { Link } from "react-router-dom";
import { useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { ScriptedLabel } from "../components/StatusBadge";
import { formatTime } from "../lib/format";
import { useAgents } from "../lib/useAgents";

export function AgentsPage() {
  const { can } = useAuth();
  const agents = useAgents();
  return (
    <section aria-labelledby="agents-title">
      <div className="page-head">
        <h1 id="agents-title">Agents</h1>
        {can("agents.write") && (
          <Link className="button" to="/agents/new">
            New agent
          </Link>
        )}
      </div>
      <ErrorNotice error={agents.error} onRetry={agents.reload} />
      {agents.loading && !agents.data ? (
        <Loading label="Loading agents…" />
      ) : agents.data?.length === 0 ? (
        <Empty>No agents yet.</Empty>
      ) : (
        <ul className="cards">
          {agents.data?.map((agent) => (
            <li key={agent.id} className="card">
              <h2>
                <Link to={`/agents/${agent.id}`}>{agent.name}</Link>
              </h2>
              <p>{agent.description || <span className="muted">No description.</span>}</p>
              <p className="muted">
                Version {agent.version} · updated {formatTime(agent.updated_at)} · reasoning: {agent.models.reasoning.join(" → ")}{" "}
                {agent.models.reasoning.includes("scripted") && <ScriptedLabel />}
              </p>
              <p className="muted">Tools: {agent.tools.join(", ")}</p>
              {can("runs.create") && (
                <Link to={`/runs/new?agent=${agent.id}`} className="button secondary">
                  Start a run
                </Link>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
