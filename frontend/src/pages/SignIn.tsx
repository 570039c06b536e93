import { useState, type FormEvent } from "react";
import { errorMessage } from "../api/client";
import { useAuth } from "../auth/AuthContext";

export function SignIn() {
  const auth = useAuth();
  const [mode, setMode] = useState<"password" | "key">("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "password") await auth.signIn(email.trim(), password);
      else await auth.signInWithKey(key);
    } catch (caught) {
      setError(errorMessage(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <h1>agentlab</h1>
      <form onSubmit={submit} aria-labelledby="signin-title" className="card">
        <h2 id="signin-title">Sign in</h2>
        {auth.error && !error && (
          <p className="state error" role="alert">
            {auth.error}
          </p>
        )}
        {mode === "password" ? (
          <>
            <label>
              Email
              <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
            <label>
              Password
              <input
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        ) : (
          <label>
            API key
            <input
              type="password"
              autoComplete="off"
              required
              pattern="al_.+"
              title="An agentlab API key starts with al_"
              value={key}
              onChange={(e) => setKey(e.target.value)}
            />
          </label>
        )}
        {error && (
          <p className="state error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <button type="button" className="link" onClick={() => setMode(mode === "password" ? "key" : "password")}>
          {mode === "password" ? "Use an API key instead" : "Use email and password instead"}
        </button>
      </form>
    </main>
  );
}
