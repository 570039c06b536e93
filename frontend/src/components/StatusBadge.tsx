import type { RunStatus, ScheduleStatus } from "../api/types";
import { statusLabel } from "../lib/format";

export function StatusBadge({ status }: { status: RunStatus }) {
  return <span className={`badge status-${status}`}>{statusLabel(status)}</span>;
}

/** The scripted model is a stand-in: wherever it appears it says so. */
export function ScriptedLabel() {
  return (
    <span className="badge scripted" title="A deterministic stand-in model for demos and tests, not a real model">
      scripted model
    </span>
  );
}

export function ScheduleStatusBadge({ status, reason }: { status: ScheduleStatus; reason?: string | null }) {
  return (
    <span className={`badge schedule-${status}`} title={reason ?? undefined}>
      {status}
    </span>
  );
}
