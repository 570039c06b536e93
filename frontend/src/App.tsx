import { useEffect, useRef } from "react";
import { NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "./components/States";
import { REPOS_READ } from "./lib/repos";
import { AgentEditor } from "./pages/AgentEditor";
import { AgentsPage } from "./pages/AgentsPage";
import { NewRunPage } from "./pages/NewRunPage";
import { RepoPage } from "./pages/RepoPage";
import { ReposPage } from "./pages/ReposPage";
import { RunPage } from "./pages/RunPage";
import { RunsPage } from "./pages/RunsPage";
import { ScheduleEditor } from "./pages/ScheduleEditor";
import { SchedulePage } from "./pages/SchedulePage";
import { SchedulesPage } from "./pages/SchedulesPage";
import { SettingsPage } from "./pages/SettingsPage";
import { SignIn } from "./pages/SignIn";
import { UsagePage } from "./pages/UsagePage";

function Shell() {
  const { me, can, signOut, config } = useAuth();
  const settings = can("api_keys.read") || can("members.read") || can("providers.read");
  const { pathname } = useLocation();
  const main = useRef<HTMLElement>(null);
  const firstPath = useRef(pathname);
  useEffect(() => {
    // After client-side navigation, keyboard and screen-reader users start at the new page's content.
    if (pathname !== firstPath.current) {
      firstPath.current = "";
      main.current?.focus();
    }
  }, [pathname]);
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">agentlab</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Runs
          </NavLink>
          {can("runs.create") && <NavLink to="/runs/new">New run</NavLink>}
          <NavLink to="/agents">Agents</NavLink>
          {can("schedules.read") && <NavLink to="/schedules">Schedules</NavLink>}
          {can(REPOS_READ) && <NavLink to="/repos">Repos</NavLink>}
          {can("usage.read") && <NavLink to="/usage">Usage</NavLink>}
          {settings && <NavLink to="/settings">Settings</NavLink>}
        </nav>
        <div className="who">
          <span title={me?.identity}>
            {me?.email ?? (me?.kind === "api_key" ? "API key" : me?.identity)} · {me?.org_name} · <strong>{me?.role}</strong>
            {config.environment === "local" && <span className="badge env">local</span>}
          </span>
          <button type="button" className="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        <Routes>
          <Route path="/" element={<RunsPage />} />
          <Route path="/runs/new" element={<NewRunPage />} />
          <Route path="/runs/:runId" element={<RunPage />} />
          <Route path="/agents" element={<AgentsPage />} />
          <Route path="/agents/new" element={<AgentEditor />} />
          <Route path="/agents/:agentId" element={<AgentEditor />} />
          <Route path="/schedules" element={<SchedulesPage />} />
          <Route path="/schedules/new" element={<ScheduleEditor />} />
          <Route path="/schedules/:scheduleId" element={<SchedulePage />} />
          <Route path="/schedules/:scheduleId/edit" element={<ScheduleEditor />} />
          <Route path="/repos" element={<ReposPage />} />
          <Route path="/repos/:repoId" element={<RepoPage />} />
          <Route path="/usage" element={<UsagePage />} />
          <Route path="/settings/*" element={<SettingsPage />} />
          <Route path="*" element={<Empty>There is no page here.</Empty>} />
        </Routes>
      </main>
    </>
  );
}

export function App() {
  const { status, error, signOut } = useAuth();
  if (status === "loading") return <Loading label="Signing in…" />;
  if (status === "signed_out") return <SignIn />;
  if (status === "error") {
    return (
      <main className="signin" id="main">
        <ErrorNotice error={new Error(error ?? "The dashboard cannot reach the API.")} onRetry={() => window.location.reload()} />
        <button type="button" className="secondary" onClick={signOut}>
          Sign out
        </button>
      </main>
    );
  }
  return <Shell />;
}
