import { useEffect, useState } from "react";
import { ApiClient, ApiError, errorMessage } from "../api/client";
import type { SchedulePreview } from "../api/types";

/** How long typing must pause before the expression is checked by the server. */
export const PREVIEW_DEBOUNCE_MS = 400;

/**
 * Which form field an API error is about: the expression and timezone by code, the rest by the paths in the message
 * ("daily_budget.max_runs", "name").
 */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || error.status !== 422) return {};
  if (error.code === "invalid_expression") return { expression: error.message };
  if (error.code === "invalid_timezone") return { timezone: error.message };
  const fields: Record<string, string> = {};
  // A validation error reads "path.to.field: reason; other.field: reason".
  for (const part of error.message.split("; ")) {
    const match = /^([a-z_]+(?:\.[\w.]+)?): (.+)$/.exec(part);
    if (!match) continue;
    const [, field, reason] = match;
    fields[field] = fields[field] ? `${fields[field]}; ${reason}` : reason;
  }
  return fields;
}

export type PreviewState =
  | { state: "idle" }
  | { state: "checking" }
  | { state: "ok"; preview: SchedulePreview }
  | { state: "invalid"; field: "expression" | "timezone"; message: string }
  | { state: "failed"; message: string };

/** The description and next fires of an expression as the server reads it, asked for once typing pauses. */
export function useExpressionPreview(api: ApiClient, expression: string, timezone: string, delayMs = PREVIEW_DEBOUNCE_MS): PreviewState {
  const [result, setResult] = useState<PreviewState>({ state: "idle" });
  useEffect(() => {
    if (!expression.trim()) {
      setResult({ state: "idle" });
      return;
    }
    const controller = new AbortController();
    setResult({ state: "checking" });
    const timer = setTimeout(() => {
      api
        .post<SchedulePreview>("/v1/schedules/preview", { expression: expression.trim(), timezone: timezone.trim() || "UTC" }, { signal: controller.signal })
        .then(
          (preview) => {
            if (!controller.signal.aborted) setResult({ state: "ok", preview });
          },
          (error: unknown) => {
            if (controller.signal.aborted) return;
            if (error instanceof ApiError && error.status === 422) {
              setResult({ state: "invalid", field: error.code === "invalid_timezone" ? "timezone" : "expression", message: error.message });
            } else {
              setResult({ state: "failed", message: errorMessage(error) });
            }
          },
        );
    }, delayMs);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [api, expression, timezone, delayMs]);
  return result;
}

/** IANA timezone names the browser knows, for suggestions; the server decides what is valid. */
export function knownTimezones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}
