import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { errorMessage } from "../api/client";
import type { OutputRef } from "../api/types";
import { formatBytes } from "../api/uploads";
import { useApi } from "../auth/AuthContext";

/** Larger full outputs open in their own tab (the storage URL shows them inline) instead of inside the page. */
export const INLINE_FULL_OUTPUT_MAX_BYTES = 2 * 1024 * 1024;

type FullText = { state: "preview" } | { state: "loading" } | { state: "full"; text: string } | { state: "error"; error: unknown };

/** JSON (tool calls) indented for reading; any other text as it is. */
function readable(text: string, json: boolean): string {
  if (!json) return text;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * A field whose record keeps only a preview (a head and tail around an omission marker): the preview, how long the
 * whole is, and a control that fetches the whole text from its presigned URL and shows it in place of the preview,
 * or a link to it when it is too large for the page. Without `output` the text is whole and shown as it is.
 */
export function Previewed({
  label,
  preview,
  output,
  renew,
  children,
}: {
  label: string;
  preview: string;
  output?: OutputRef | null;
  /** A fresh reference (a newly signed URL), asked for once when storage refuses an expired one. */
  renew?: () => Promise<OutputRef | null | undefined>;
  children: (text: string) => ReactNode;
}) {
  const api = useApi();
  const noteId = useId();
  const [full, setFull] = useState<FullText>({ state: "preview" });
  const controller = useRef<AbortController | null>(null);
  useEffect(() => () => controller.current?.abort(), []);

  if (!output) return <>{children(preview)}</>;
  const url = output.url;
  const json = output.key.endsWith(".json");

  const load = async () => {
    if (!url) return;
    controller.current?.abort();
    const current = (controller.current = new AbortController());
    setFull({ state: "loading" });
    try {
      // A presigned URL carries its own authorisation: no API token goes to storage.
      let response = await api.fetchRaw(url, { signal: current.signal });
      if (response.status === 403 && renew) {
        const fresh = (await renew())?.url;
        if (fresh) response = await api.fetchRaw(fresh, { signal: current.signal });
      }
      if (!response.ok) throw new Error(`the storage service answered ${response.status}.`);
      const text = await response.text();
      if (!current.signal.aborted) setFull({ state: "full", text: readable(text, json) });
    } catch (error) {
      if (current.signal.aborted) return;
      const reason = error instanceof TypeError ? "the storage service cannot be reached." : errorMessage(error);
      setFull({ state: "error", error: new Error(`The full ${label} could not be loaded: ${reason}`) });
    }
  };

  const size = `${output.chars.toLocaleString("en-US")} characters, ${formatBytes(output.bytes)}`;
  const showing = full.state === "full";
  const tooLarge = output.bytes > INLINE_FULL_OUTPUT_MAX_BYTES;
  return (
    <div className="previewed">
      {children(showing ? full.text : preview)}
      <div className="full-output">
        <span id={noteId} className="muted">
          {showing ? `Full ${label} (${size}).` : `Preview of ${label}: the full output is ${size}.`}
        </span>{" "}
        {!url ? (
          <span className="muted">It is not available.</span>
        ) : tooLarge ? (
          <a href={url} target="_blank" rel="noopener noreferrer" aria-describedby={noteId}>
            Open full output of {label} in a new tab
          </a>
        ) : showing ? (
          <button type="button" className="link" onClick={() => setFull({ state: "preview" })}>
            Show preview of {label}
          </button>
        ) : (
          <button
            type="button"
            className="link"
            onClick={() => void load()}
            disabled={full.state === "loading"}
            aria-describedby={noteId}
            aria-label={`Show full output of ${label}`}
          >
            Show full output
          </button>
        )}
        {full.state === "loading" && (
          <span role="status" className="muted">
            <span className="spinner" aria-hidden="true" /> Loading the full {label}…
          </span>
        )}
      </div>
      {full.state === "error" && (
        <div className="state error" role="alert">
          <span>{errorMessage(full.error)}</span>
          <button type="button" className="link" onClick={() => void load()}>
            Try again
          </button>
        </div>
      )}
    </div>
  );
}
