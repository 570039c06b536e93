import { lazy, Suspense, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router-dom";
import type { MonthlyBudget, UsageGroupBy, UsageReport } from "../api/types";
import { BUDGET_ALERT_PERCENTS, COST_COMPONENTS, USAGE_GROUP_BYS, USAGE_RUN_STATUSES } from "../api/types";
import { useApi, useAuth } from "../auth/AuthContext";
import { Cost } from "../components/Cost";
import { Empty, ErrorNotice, Loading } from "../components/States";
import { formatCost, formatDuration, formatTokens, statusLabel } from "../lib/format";
import { COMPONENT_LABELS } from "../lib/usageCharts";
import { useResource } from "../lib/useResource";

// The chart library is fetched only when this page draws its charts.
const UsageCharts = lazy(() => import("../components/UsageCharts"));

const GROUP_LABELS: Record<UsageGroupBy, string> = { day: "Day", agent: "Agent", model: "Model", schedule: "Schedule", user: "User" };
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** From the first of this month (UTC) to today: the budget's month so far. */
export function defaultRange(now = new Date()): { from: string; to: string } {
  return { from: `${isoDate(now).slice(0, 8)}01`, to: isoDate(now) };
}

function rangeError(from: string, to: string): string | null {
  if (!DATE.test(from) || !DATE.test(to)) return "Choose both dates.";
  if (from > to) return "The start date is after the end date.";
  return null;
}

interface Reports {
  selected: UsageReport;
  days: UsageReport;
  models: UsageReport;
}

function totalRuns(runs: Record<string, number>): number {
  return Object.values(runs).reduce((a, b) => a + b, 0);
}

export function UsagePage() {
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const defaults = defaultRange();
  const from = params.get("from") ?? defaults.from;
  const to = params.get("to") ?? defaults.to;
  const groupParam = params.get("group_by") as UsageGroupBy | null;
  const groupBy: UsageGroupBy = groupParam && USAGE_GROUP_BYS.includes(groupParam) ? groupParam : "day";
  const invalidRange = rangeError(from, to);

  const reports = useResource<Reports | null>(
    async (signal) => {
      if (invalidRange) return null;
      // The charts need days and models whatever the table groups by; each grouping is asked for once.
      const wanted = Array.from(new Set<UsageGroupBy>([groupBy, "day", "model"]));
      const loaded = await Promise.all(
        wanted.map((group) => api.get<UsageReport>("/v1/usage", { query: { from, to, group_by: group }, signal })),
      );
      const of = (group: UsageGroupBy) => loaded[wanted.indexOf(group)];
      return { selected: of(groupBy), days: of("day"), models: of("model") };
    },
    [api, from, to, groupBy, invalidRange],
  );
  const [budgetOverride, setBudgetOverride] = useState<MonthlyBudget | null>(null);

  const setParam = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    next.set(name, value);
    setParams(next, { replace: true });
    setBudgetOverride(null);
  };

  const report = reports.data?.selected;
  const total = report?.total;
  const budget = budgetOverride ?? report?.budget;

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage and cost</h1>
      <div className="filters" role="search">
        <label>
          From
          <input type="date" value={from} max={to} onChange={(e) => setParam("from", e.target.value)} aria-invalid={invalidRange ? true : undefined} />
        </label>
        <label>
          To
          <input type="date" value={to} min={from} onChange={(e) => setParam("to", e.target.value)} aria-invalid={invalidRange ? true : undefined} />
        </label>
        <label>
          Group by
          <select value={groupBy} onChange={(e) => setParam("group_by", e.target.value)}>
            {USAGE_GROUP_BYS.map((group) => (
              <option key={group} value={group}>
                {GROUP_LABELS[group]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {invalidRange && (
        <p className="field-error" role="alert">
          {invalidRange}
        </p>
      )}
      <ErrorNotice error={reports.error} onRetry={reports.reload} />
      {!invalidRange && reports.loading && !reports.data ? (
        <Loading label="Loading usage…" />
      ) : report && total && reports.data ? (
        <>
          <h2>Totals</h2>
          <ul className="totals" aria-label="Totals">
            <li>
              Cost
              <span className="figure">
                <Cost usd={total.cost.total} known={total.cost_known} />
              </span>
            </li>
            <li>
              Tokens
              <span className="figure">{formatTokens(total.input_tokens + total.output_tokens)}</span>
              <span className="muted">
                {formatTokens(total.input_tokens)} in · {formatTokens(total.output_tokens)} out
              </span>
            </li>
            <li>
              Runs
              <span className="figure">{totalRuns(total.runs)}</span>
              <span className="muted">{USAGE_RUN_STATUSES.map((status) => `${total.runs[status] ?? 0} ${statusLabel(status)}`).join(" · ")}</span>
            </li>
            <li>
              Sandbox time
              <span className="figure">{formatDuration(total.sandbox_seconds * 1000)}</span>
            </li>
            <li>
              State transitions
              <span className="figure">{total.state_transitions.toLocaleString()}</span>
            </li>
          </ul>
          <table aria-label="Cost by component">
            <thead>
              <tr>
                {COST_COMPONENTS.map((component) => (
                  <th key={component} scope="col" className="number">
                    {COMPONENT_LABELS[component]}
                  </th>
                ))}
                <th scope="col" className="number">
                  Total
                </th>
              </tr>
            </thead>
            <tbody>
              <tr>
                {COST_COMPONENTS.map((component) => (
                  <td key={component} className="number">
                    {component === "model" ? <Cost usd={total.cost.model} known={total.cost_known} /> : formatCost(total.cost[component])}
                  </td>
                ))}
                <td className="number">
                  <Cost usd={total.cost.total} known={total.cost_known} />
                </td>
              </tr>
            </tbody>
          </table>

          <h2>Charts</h2>
          <Suspense fallback={<Loading label="Loading charts…" />}>
            <UsageCharts days={reports.data.days.groups} models={reports.data.models.groups} total={total} />
          </Suspense>

          <h2>By {GROUP_LABELS[groupBy].toLowerCase()}</h2>
          {report.groups.length === 0 ? (
            <Empty>No usage in this range.</Empty>
          ) : (
            <table className="responsive" aria-label={`Usage by ${GROUP_LABELS[groupBy].toLowerCase()}`}>
              <thead>
                <tr>
                  <th scope="col">{GROUP_LABELS[groupBy]}</th>
                  <th scope="col" className="number">
                    Runs
                  </th>
                  <th scope="col" className="number">
                    Input tokens
                  </th>
                  <th scope="col" className="number">
                    Output tokens
                  </th>
                  <th scope="col" className="number">
                    Sandbox
                  </th>
                  <th scope="col" className="number">
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.groups.map((group) => (
                  <tr key={group.key}>
                    <td data-label={GROUP_LABELS[groupBy]}>{group.label || group.key}</td>
                    <td data-label="Runs" className="number">
                      {totalRuns(group.runs)}
                    </td>
                    <td data-label="Input tokens" className="number">
                      {formatTokens(group.input_tokens)}
                    </td>
                    <td data-label="Output tokens" className="number">
                      {formatTokens(group.output_tokens)}
                    </td>
                    <td data-label="Sandbox" className="number">
                      {formatDuration(group.sandbox_seconds * 1000)}
                    </td>
                    <td data-label="Cost" className="number">
                      <Cost usd={group.cost.total} known={group.cost_known} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      ) : null}
      {budget && <BudgetSection budget={budget} onSaved={setBudgetOverride} />}
    </section>
  );
}

function BudgetSection({ budget, onSaved }: { budget: MonthlyBudget; onSaved: (budget: MonthlyBudget) => void }) {
  const api = useApi();
  const { can } = useAuth();
  const [amount, setAmount] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const editable = can("usage.budget");
  const limit = budget.monthly_usd;
  const share = limit ? budget.spent_usd / limit : null;

  const save = async (monthly: number | null) => {
    setBusy(true);
    setError(null);
    try {
      onSaved(await api.put<MonthlyBudget>("/v1/usage/budget", { monthly_usd: monthly }));
      setAmount("");
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = Number(amount);
    if (amount.trim() === "" || !Number.isFinite(value) || value < 0) {
      setError(new Error("The monthly budget is an amount in USD of at least 0."));
      return;
    }
    void save(value);
  };

  return (
    <section aria-labelledby="budget-title" className="card">
      <h2 id="budget-title">Monthly budget ({budget.month})</h2>
      {limit == null ? (
        <p>No monthly budget is set: no alerts go out. Spent this month: {formatCost(budget.spent_usd)}.</p>
      ) : (
        <>
          <p>
            {formatCost(budget.spent_usd)} of {formatCost(limit)} spent ({Math.round((share ?? 0) * 100)} %).
          </p>
          <meter className="budget-meter" min={0} max={limit} low={limit * 0.5} high={limit * 0.8} optimum={0} value={Math.min(budget.spent_usd, limit)} aria-label="Share of the monthly budget spent" />
        </>
      )}
      <ul className="alerts" aria-label="Alerts">
        {BUDGET_ALERT_PERCENTS.map((percent) => {
          const sent = budget.alerts_sent.includes(percent);
          return (
            <li key={percent} className={`badge ${sent ? "alert-sent" : "alert-pending"}`}>
              {percent} %: {sent ? "alert sent" : "not reached"}
            </li>
          );
        })}
      </ul>
      {editable ? (
        <form className="inline-form" onSubmit={submit}>
          <label>
            {limit == null ? "Set a monthly budget (USD)" : "Change the monthly budget (USD)"}
            <input type="number" min={0} step="0.01" value={amount} placeholder={limit == null ? "" : String(limit)} onChange={(e) => setAmount(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>
            Save budget
          </button>
          {limit != null && (
            <button
              type="button"
              className="secondary"
              disabled={busy}
              onClick={() => window.confirm("Remove the monthly budget? No more alerts go out.") && void save(null)}
            >
              Remove the budget
            </button>
          )}
        </form>
      ) : (
        <p className="muted">An admin sets the monthly budget.</p>
      )}
      <ErrorNotice error={error} />
    </section>
  );
}
