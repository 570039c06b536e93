// What the usage charts draw, as plain data: the chart library stays out of this module (and out of first load).
import type { CostComponent, UsageGroup, UsageRunStatus } from "../api/types";
import { COST_COMPONENTS, USAGE_RUN_STATUSES } from "../api/types";

export interface Series {
  label: string;
  values: number[];
  color: string;
}

export interface ChartData {
  labels: string[];
  series: Series[];
}

export const COMPONENT_COLORS: Record<CostComponent, string> = {
  model: "#0b57d0",
  sandbox: "#146c2e",
  orchestration: "#b06000",
  lambda: "#5b2a86",
  storage: "#8a939c",
};

export const STATUS_COLORS: Record<UsageRunStatus, string> = {
  succeeded: "#1e8e3e",
  failed: "#b3261e",
  cancelled: "#80868b",
  budget_exceeded: "#e37400",
};

export const COMPONENT_LABELS: Record<CostComponent, string> = {
  model: "Model",
  sandbox: "Sandbox",
  orchestration: "Orchestration",
  lambda: "Lambda",
  storage: "Storage",
};

/** Cost per day, one series per component (stacked). */
export function costByDay(days: UsageGroup[]): ChartData {
  const sorted = [...days].sort((a, b) => a.key.localeCompare(b.key));
  return {
    labels: sorted.map((day) => day.label || day.key),
    series: COST_COMPONENTS.map((component) => ({
      label: COMPONENT_LABELS[component],
      values: sorted.map((day) => day.cost[component] ?? 0),
      color: COMPONENT_COLORS[component],
    })),
  };
}

/** Input and output tokens per model, most tokens first. */
export function tokensByModel(models: UsageGroup[]): ChartData {
  const sorted = [...models].sort((a, b) => b.input_tokens + b.output_tokens - (a.input_tokens + a.output_tokens));
  return {
    labels: sorted.map((model) => model.label || model.key),
    series: [
      { label: "Input tokens", values: sorted.map((model) => model.input_tokens), color: "#0b57d0" },
      { label: "Output tokens", values: sorted.map((model) => model.output_tokens), color: "#7cacf8" },
    ],
  };
}

export function runsByStatus(runs: Record<UsageRunStatus, number>): ChartData {
  return {
    labels: USAGE_RUN_STATUSES.map((status) => status.replace(/_/g, " ")),
    series: [{ label: "Runs", values: USAGE_RUN_STATUSES.map((status) => runs[status] ?? 0), color: "#0b57d0" }],
  };
}

/** One sentence saying what a chart shows, for screen readers (the tables below carry every figure). */
export function summarise(data: ChartData, unit: string): string {
  if (!data.labels.length) return `No ${unit} in this range.`;
  const totals = data.series.map((series) => `${series.label}: ${series.values.reduce((a, b) => a + b, 0).toLocaleString()}`);
  return `${data.labels.length} ${data.labels.length === 1 ? "bar" : "bars"} (${data.labels[0]} to ${data.labels[data.labels.length - 1]}); totals ${totals.join(", ")} ${unit}.`;
}
