// Loaded lazily by the usage page: Chart.js (only the parts a bar chart needs) stays out of the first-load bundle.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { useEffect, useMemo, useRef } from "react";
import type { UsageFigures, UsageGroup } from "../api/types";
import { USAGE_RUN_STATUSES } from "../api/types";
import { costByDay, runsByStatus, STATUS_COLORS, summarise, tokensByModel, type ChartData } from "../lib/usageCharts";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

interface BarChartProps {
  title: string;
  data: ChartData;
  unit: string;
  stacked?: boolean;
  /** One color per bar instead of one per series. */
  barColors?: string[];
  formatValue?: (value: number) => string;
}

const plain = (value: number) => value.toLocaleString();
const usd = (value: number) => `$${value < 1 && value > 0 ? value.toFixed(4) : value.toFixed(2)}`;
const STATUS_BAR_COLORS = USAGE_RUN_STATUSES.map((status) => STATUS_COLORS[status]);

function BarChart({ title, data, unit, stacked = false, barColors, formatValue = plain }: BarChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    const chart = new Chart(context, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map((series) => ({
          label: series.label,
          data: series.values,
          backgroundColor: barColors ?? series.color,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: data.series.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatValue(Number(item.raw))}` } },
        },
        scales: {
          x: { stacked },
          y: { stacked, beginAtZero: true, ticks: { callback: (value) => formatValue(Number(value)) } },
        },
      },
    });
    return () => chart.destroy();
  }, [data, stacked, barColors, formatValue]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div className="canvas-box">
        <canvas ref={canvas} role="img" aria-label={`${title}. ${summarise(data, unit)}`} />
      </div>
    </figure>
  );
}

export interface UsageChartsProps {
  days: UsageGroup[];
  models: UsageGroup[];
  total: UsageFigures;
}

export default function UsageCharts({ days, models, total }: UsageChartsProps) {
  // Each chart is drawn again only when its own figures change.
  const cost = useMemo(() => costByDay(days), [days]);
  const tokens = useMemo(() => tokensByModel(models), [models]);
  const runs = useMemo(() => runsByStatus(total.runs), [total.runs]);
  return (
    <div className="charts">
      <BarChart title="Cost per day by component" data={cost} unit="USD" stacked formatValue={usd} />
      <BarChart title="Tokens by model" data={tokens} unit="tokens" stacked />
      <BarChart title="Runs by status" data={runs} unit="runs" barColors={STATUS_BAR_COLORS} />
    </div>
  );
}
