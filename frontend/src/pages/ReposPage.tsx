import { useId, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiError } from "../api/client";
import type { Page, Repo, RepoCreate } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { nameFromUrl, REPOS_WRITE } from "../lib/repos";
import { useResource } from "../lib/useResource";

const PAGE_SIZE = 50;
// The answers about the URL itself; they are shown under the URL field.
const URL_ERROR_CODES = new Set(["url_not_allowed", "repo_unreachable"]);

interface ConnectForm {
  url: string;
  branch: string;
  name: string;
  token: string;
}

const EMPTY_FORM: ConnectForm = { url: "", branch: "", name: "", token: "" };

function connectBody(form: ConnectForm): RepoCreate {
  const body: RepoCreate = { url: form.url.trim() };
  if (form.branch.trim()) body.default_branch = form.branch.trim();
  if (form.name.trim()) body.name = form.name.trim();
  if (form.token.trim()) body.credentials = { token: form.token.trim() };
  return body;
}

function ConnectRepoForm() {
  const api = useApi();
  const navigate = useNavigate();
  const ids = useId();
  const [form, setForm] = useState<ConnectForm>(EMPTY_FORM);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [missingUrl, setMissingUrl] = useState(false);
  const urlError = error instanceof ApiError && URL_ERROR_CODES.has(error.code) ? error.message : missingUrl ? "Give the repository's clone URL." : "";

  const set = (name: keyof ConnectForm, value: string) => {
    setForm((current) => ({ ...current, [name]: value }));
    setError(null);
    if (name === "url") setMissingUrl(false);
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!form.url.trim()) {
      setMissingUrl(true);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const repo = await api.connectRepo(connectBody(form));
      navigate(`/repos/${repo.id}`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby={`${ids}-title`} noValidate>
      <h2 id={`${ids}-title`}>Connect a repository</h2>
      <div>
        <label>
          Clone URL
          <input
            className="mono"
            value={form.url}
            placeholder="https://github.com/acme/fastmath.git"
            onChange={(e) => set("url", e.target.value)}
            aria-invalid={urlError ? true : undefined}
            aria-describedby={urlError ? `${ids}-url-error` : undefined}
          />
        </label>
        {urlError && (
          <p id={`${ids}-url-error`} className="field-hint field-error">
            {urlError}
          </p>
        )}
      </div>
      <div className="grid">
        <label>
          Default branch (optional)
          <input value={form.branch} placeholder="the repository's own" onChange={(e) => set("branch", e.target.value)} />
        </label>
        <label>
          Name (optional)
          <input value={form.name} placeholder={nameFromUrl(form.url) || "from the URL"} maxLength={100} onChange={(e) => set("name", e.target.value)} />
        </label>
      </div>
      <div>
        <label>
          Access token (optional, for a private repository)
          <input
            type="password"
            autoComplete="off"
            value={form.token}
            onChange={(e) => set("token", e.target.value)}
            aria-describedby={`${ids}-token-hint`}
          />
        </label>
        <p id={`${ids}-token-hint`} className="field-hint muted">
          Stored encrypted and used only to clone; it is never shown again.
        </p>
      </div>
      {!urlError && <ErrorNotice error={error} />}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Connecting…" : "Connect repository"}
        </button>
      </div>
    </form>
  );
}

export function ReposPage() {
  const api = useApi();
  const { can } = useAuth();
  const repos = useResource((signal) => api.listRepos({ limit: PAGE_SIZE, signal }), [api]);
  const [more, setMore] = useState<{ items: Repo[]; cursor: string | null; error: unknown }>({ items: [], cursor: null, error: null });
  const firstIds = new Set(repos.data?.items.map((repo) => repo.id));
  const items = [...(repos.data?.items ?? []), ...more.items.filter((repo) => !firstIds.has(repo.id))];
  const nextCursor = more.items.length ? more.cursor : (repos.data?.next_cursor ?? null);
  const writable = can(REPOS_WRITE);

  const loadMore = async () => {
    try {
      const page: Page<Repo> = await api.listRepos({ limit: PAGE_SIZE, cursor: nextCursor });
      setMore({ items: [...more.items, ...page.items], cursor: page.next_cursor, error: null });
    } catch (error) {
      setMore({ ...more, error });
    }
  };

  return (
    <section aria-labelledby="repos-title">
      <div className="page-head">
        <h1 id="repos-title">Repos</h1>
      </div>
      <p className="muted">A connected repository gets its install, build, test and benchmark commands detected, and a baseline run in a sandbox.</p>
      <ErrorNotice error={repos.error} onRetry={repos.reload} />
      {repos.loading && !repos.data ? (
        <Loading label="Loading repositories…" />
      ) : items.length === 0 && repos.data ? (
        <Empty>No repositories connected yet.{writable ? " Connect the first one below." : ""}</Empty>
      ) : items.length > 0 ? (
        <table className="responsive">
          <caption className="visually-hidden">Repositories</caption>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">URL</th>
              <th scope="col">Default branch</th>
              <th scope="col">Last run</th>
              <th scope="col">Connected</th>
            </tr>
          </thead>
          <tbody>
            {items.map((repo) => (
              <tr key={repo.id} data-repo-id={repo.id}>
                <td data-label="Repository">
                  <Link to={`/repos/${repo.id}`}>{repo.name}</Link>
                  {repo.has_credentials && <span className="badge">token</span>}
                </td>
                <td data-label="URL" className="mono">
                  {repo.url}
                </td>
                <td data-label="Default branch">{repo.default_branch}</td>
                <td data-label="Last run">{repo.last_run_id ? <Link to={`/runs/${repo.last_run_id}`}>{repo.last_run_id}</Link> : "—"}</td>
                <td data-label="Connected">{formatTime(repo.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorNotice error={more.error} />
      {nextCursor && (
        <button type="button" className="secondary" onClick={loadMore}>
          Load more repositories
        </button>
      )}
      {writable ? <ConnectRepoForm /> : <p className="muted">An operator or admin can connect repositories.</p>}
    </section>
  );
}
