import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiClient, ApiError, errorMessage, type RuntimeConfig } from "../api/client";
import type { Me } from "../api/types";

export type AuthStatus = "loading" | "signed_out" | "signed_in" | "error";

export interface Auth {
  api: ApiClient;
  config: RuntimeConfig;
  status: AuthStatus;
  me: Me | null;
  error: string | null;
  signIn(email: string, password: string): Promise<void>;
  signInWithKey(key: string): Promise<void>;
  signOut(): void;
  /** Whether the caller may do this action (the API's `actions` list decides, not the role name). */
  can(action: string): boolean;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ api, config, children }: { api: ApiClient; config: RuntimeConfig; children: ReactNode }) {
  const [status, setStatus] = useState<AuthStatus>(api.session ? "loading" : "signed_out");
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);

  const loadMe = useCallback(async () => {
    setStatus("loading");
    try {
      setMe(await api.get<Me>("/v1/me"));
      setError(null);
      setStatus("signed_in");
    } catch (caught) {
      setMe(null);
      if (caught instanceof ApiError && caught.status === 401) {
        api.signOut();
        setStatus("signed_out");
        setError(caught.code === "session_expired" ? caught.message : null);
      } else {
        setError(errorMessage(caught));
        setStatus("error");
      }
      throw caught;
    }
  }, [api]);

  useEffect(() => {
    if (api.session) loadMe().catch(() => undefined);
    return api.subscribe((session) => {
      if (!session) {
        setMe(null);
        setStatus("signed_out");
      }
    });
  }, [api, loadMe]);

  const value = useMemo<Auth>(() => {
    const actions = new Set(me?.actions ?? []);
    return {
      api,
      config,
      status,
      me,
      error,
      async signIn(email, password) {
        await api.login(email, password);
        await loadMe();
      },
      async signInWithKey(key) {
        api.useApiKey(key);
        await loadMe();
      },
      signOut() {
        setError(null);
        api.signOut();
      },
      can: (action) => actions.has(action),
    };
  }, [api, config, status, me, error, loadMe]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth needs an AuthProvider");
  return auth;
}

export function useApi(): ApiClient {
  return useAuth().api;
}
