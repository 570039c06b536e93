export function formatCost(usd: number): string {
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

/** How a run's or a step's cost reads, with a longer explanation for a tooltip. */
export interface CostLabel {
  text: string;
  title?: string;
}

/**
 * A cost that counts a model without a price is unknown: it is never shown as a misleading $0. What the priced
 * models cost is still a lower bound worth showing.
 */
export function costLabel(usd: number, known: boolean | undefined): CostLabel {
  if (known !== false) return { text: formatCost(usd) };
  const priced = usd > 0 ? `; ≥ ${formatCost(usd)}` : "";
  const part = usd > 0 ? `Only the priced models' calls are counted: ${formatCost(usd)} so far.` : "No priced model's call is counted yet.";
  return {
    text: `unknown (unpriced model${priced})`,
    title: `A model without a known price was used, so the total cost is unknown. ${part} A deployment can set prices for its models (AGENTLAB_MODEL_PRICES).`,
  };
}

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** How long a run took, or has taken so far. */
export function runDuration(run: { started_at: string | null; ended_at: string | null }, now = Date.now()): number | null {
  if (!run.started_at) return null;
  const end = run.ended_at ? Date.parse(run.ended_at) : now;
  return end - Date.parse(run.started_at);
}

export function formatTime(iso: string | null): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function formatTokens(count: number): string {
  return count >= 10_000 ? `${(count / 1000).toFixed(1)}k` : String(count);
}

export function statusLabel(status: string): string {
  return status.replace(/_/g, " ");
}
