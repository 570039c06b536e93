import type { ApiClient } from "../api/client";
import type { Agent, Page } from "../api/types";
import { useApi } from "../auth/AuthContext";
import { useResource } from "./useResource";

/** Every agent of the org (following cursors), for pickers and for naming agents in lists. */
export async function listAllAgents(api: ApiClient, signal?: AbortSignal): Promise<Agent[]> {
  const agents: Agent[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<Agent> = await api.get<Page<Agent>>("/v1/agents", { query: { limit: 200, cursor }, signal });
    agents.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && agents.length < 2000);
  return agents.sort((a, b) => a.name.localeCompare(b.name));
}

export function useAgents() {
  const api = useApi();
  return useResource((signal) => listAllAgents(api, signal), [api]);
}
