import { useState, type FormEvent } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import type { ApiKey, Deleted, Member, Page, Provider, Role } from "../api/types";
import { ROLES } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { CopyButton } from "../components/CopyButton";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { useResource } from "../lib/useResource";

const SECTIONS = [
  { path: "api-keys", label: "API keys", action: "api_keys.read" },
  { path: "members", label: "Members", action: "members.read" },
  { path: "providers", label: "Model providers", action: "providers.read" },
];

async function allPages<T>(load: (cursor: string | null) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page = await load(cursor);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 1000);
  return items;
}

/** A secret shown once: the server will not show it again. */
function OneTimeSecret({ label, secret, onDismiss }: { label: string; secret: string; onDismiss: () => void }) {
  return (
    <div className="card secret" role="status">
      <p>
        <strong>{label}</strong> It is shown only this once: copy it now.
      </p>
      <p className="secret-value">
        <code data-testid="secret">{secret}</code>
      </p>
      <div className="actions">
        <CopyButton text={secret} />
        <button type="button" className="secondary" onClick={onDismiss}>
          Done
        </button>
      </div>
    </div>
  );
}

function RoleSelect({ value, onChange, label }: { value: Role; onChange: (role: Role) => void; label: string }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value as Role)}>
        {ROLES.map((role) => (
          <option key={role} value={role}>
            {role}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ApiKeysSection() {
  const api = useApi();
  const { can } = useAuth();
  const keys = useResource(() => allPages((cursor) => api.get<Page<ApiKey>>("/v1/api-keys", { query: { cursor, limit: 100 } })), [api]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [expires, setExpires] = useState("");
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      keys.reload();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const create = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const body: Record<string, string> = { name: name.trim(), role };
      if (expires) body.expires_at = new Date(`${expires}T23:59:59`).toISOString();
      const created = await api.post<ApiKey>("/v1/api-keys", body);
      setSecret({ label: `The new key “${created.name}”.`, value: created.key ?? "" });
      setName("");
      setExpires("");
    });
  };

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {secret && <OneTimeSecret label={secret.label} secret={secret.value} onDismiss={() => setSecret(null)} />}
      {can("api_keys.write") && (
        <form onSubmit={create} className="inline-form" aria-label="Create an API key">
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
          </label>
          <RoleSelect label="Role" value={role} onChange={setRole} />
          <label>
            Expires (optional)
            <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>
            Create key
          </button>
        </form>
      )}
      <ErrorNotice error={error} />
      <ErrorNotice error={keys.error} onRetry={keys.reload} />
      {keys.loading && !keys.data ? (
        <Loading label="Loading API keys…" />
      ) : keys.data?.length === 0 ? (
        <Empty>No API keys.</Empty>
      ) : (
        <table className="responsive">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.map((key) => (
              <tr key={key.id}>
                <td data-label="Name">{key.name}</td>
                <td data-label="Key">
                  <code>{key.prefix}…</code> {key.revoked && <span className="badge status-failed">revoked</span>}
                </td>
                <td data-label="Role">{key.role}</td>
                <td data-label="Created">{formatTime(key.created_at)}</td>
                <td data-label="Expires">{key.expires_at ? formatTime(key.expires_at) : "never"}</td>
                <td data-label="Last used">{key.last_used_at ? formatTime(key.last_used_at) : "never"}</td>
                <td data-label="Actions">
                  {can("api_keys.write") && !key.revoked && (
                    <div className="actions">
                      <button
                        type="button"
                        className="secondary"
                        disabled={busy}
                        aria-label={`Rotate ${key.name}`}
                        onClick={() =>
                          window.confirm(`Rotate “${key.name}”? The current key stops working at once.`) &&
                          run(async () => {
                            const rotated = await api.post<ApiKey>(`/v1/api-keys/${key.id}/rotate`);
                            setSecret({ label: `The new value of “${rotated.name}”.`, value: rotated.key ?? "" });
                          })
                        }
                      >
                        Rotate
                      </button>
                      <button
                        type="button"
                        className="danger"
                        disabled={busy}
                        aria-label={`Revoke ${key.name}`}
                        onClick={() =>
                          window.confirm(`Revoke “${key.name}”? Programs using it stop working at once.`) &&
                          run(async () => {
                            await api.delete<Deleted>(`/v1/api-keys/${key.id}`);
                          })
                        }
                      >
                        Revoke
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function MembersSection() {
  const api = useApi();
  const { can, me } = useAuth();
  const members = useResource(() => allPages((cursor) => api.get<Page<Member>>("/v1/members", { query: { cursor, limit: 100 } })), [api]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [password, setPassword] = useState("");
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      members.reload();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const invite = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const created = await api.post<Member>("/v1/members", { email: email.trim(), role, ...(password ? { password } : {}) });
      if (created.password) setSecret({ label: `The password for ${created.email}.`, value: created.password });
      setEmail("");
      setPassword("");
    });
  };

  return (
    <section aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      {secret && <OneTimeSecret label={secret.label} secret={secret.value} onDismiss={() => setSecret(null)} />}
      {can("members.write") && (
        <form onSubmit={invite} className="inline-form" aria-label="Add a member">
          <label>
            Email
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </label>
          <RoleSelect label="Role" value={role} onChange={setRole} />
          <label>
            Password (optional: one is generated)
            <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>
            Add member
          </button>
        </form>
      )}
      <ErrorNotice error={error} />
      <ErrorNotice error={members.error} onRetry={members.reload} />
      {members.loading && !members.data ? (
        <Loading label="Loading members…" />
      ) : members.data?.length === 0 ? (
        <Empty>No members yet.</Empty>
      ) : (
        <table className="responsive">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data?.map((member) => (
              <tr key={member.id}>
                <td data-label="Email">{member.email}</td>
                <td data-label="Role">
                  {can("members.write") && member.email !== me?.email ? (
                    <select
                      aria-label={`Role of ${member.email}`}
                      value={member.role}
                      disabled={busy}
                      onChange={(e) =>
                        run(async () => {
                          await api.patch<Member>(`/v1/members/${member.id}`, { role: e.target.value });
                        })
                      }
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  ) : (
                    member.role
                  )}
                </td>
                <td data-label="Added">{formatTime(member.created_at)}</td>
                <td data-label="Actions">
                  {can("members.write") && member.email !== me?.email && (
                    <button
                      type="button"
                      className="danger"
                      disabled={busy}
                      aria-label={`Remove ${member.email}`}
                      onClick={() =>
                        window.confirm(`Remove ${member.email} from the organisation?`) &&
                        run(async () => {
                          await api.delete<Deleted>(`/v1/members/${member.id}`);
                        })
                      }
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function health(provider: Provider): { label: string; className: string } {
  if (!provider.configured) return { label: "not configured", className: "status-cancelled" };
  if (provider.healthy === null) return { label: "not checked", className: "status-queued" };
  return provider.healthy ? { label: "healthy", className: "status-succeeded" } : { label: "unhealthy", className: "status-failed" };
}

export function ProvidersSection() {
  const api = useApi();
  const providers = useResource((signal) => api.get<{ items: Provider[] }>("/v1/providers", { signal }), [api]);
  return (
    <section aria-labelledby="providers-title">
      <div className="page-head">
        <h2 id="providers-title">Model providers</h2>
        <button type="button" className="secondary" onClick={providers.reload} disabled={providers.loading}>
          Check again
        </button>
      </div>
      <ErrorNotice error={providers.error} onRetry={providers.reload} />
      {providers.loading && !providers.data ? (
        <Loading label="Checking providers…" />
      ) : providers.data?.items.length === 0 ? (
        <Empty>No model providers.</Empty>
      ) : (
        <ul className="cards">
          {providers.data?.items.map((provider) => {
            const state = health(provider);
            return (
              <li key={provider.name} className="card">
                <h3>
                  {provider.name} {provider.default && <span className="badge">default</span>}{" "}
                  <span className={`badge ${state.className}`}>{state.label}</span>
                </h3>
                {provider.detail && <p>{provider.detail}</p>}
                <p className="muted">Models: {provider.models.length ? provider.models.join(", ") : "none listed"}</p>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

export function SettingsPage() {
  const { can } = useAuth();
  const visible = SECTIONS.filter((section) => can(section.action));
  if (!visible.length) return <Empty>Settings are for admins.</Empty>;
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <nav aria-label="Settings" className="tabs">
        {visible.map((section) => (
          <NavLink key={section.path} to={`/settings/${section.path}`}>
            {section.label}
          </NavLink>
        ))}
      </nav>
      <Routes>
        <Route index element={<Navigate to={visible[0].path} replace />} />
        {can("api_keys.read") && <Route path="api-keys" element={<ApiKeysSection />} />}
        {can("members.read") && <Route path="members" element={<MembersSection />} />}
        {can("providers.read") && <Route path="providers" element={<ProvidersSection />} />}
        <Route path="*" element={<Empty>This settings page does not exist or is not for your role.</Empty>} />
      </Routes>
    </section>
  );
}
