import { useId, useRef, useState, type DragEvent } from "react";
import { errorMessage } from "../api/client";
import type { FileRecord } from "../api/types";
import { checkFile, formatBytes, uploadFile } from "../api/uploads";
import { useApi } from "../auth/AuthContext";

export interface UploadItem {
  key: string;
  name: string;
  size: number;
  state: "uploading" | "ready" | "error";
  record?: FileRecord;
  error?: string;
}

/** Drop files or pick them; each is checked (type, size) before it is sent, then checked again by the server. */
export function FileDrop({ items, onChange }: { items: UploadItem[]; onChange: (update: (items: UploadItem[]) => UploadItem[]) => void }) {
  const api = useApi();
  const inputId = useId();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const add = (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      const key = `${file.name}-${file.size}-${Math.random().toString(36).slice(2)}`;
      const problem = checkFile(file);
      const item: UploadItem = { key, name: file.name, size: file.size, state: problem ? "error" : "uploading", error: problem ?? undefined };
      onChange((current) => [...current, item]);
      if (problem) continue;
      uploadFile(api, file).then(
        (record) => onChange((current) => current.map((i) => (i.key === key ? { ...i, state: "ready", record } : i))),
        (error) => onChange((current) => current.map((i) => (i.key === key ? { ...i, state: "error", error: errorMessage(error) } : i))),
      );
    }
  };

  const drop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    add(event.dataTransfer.files);
  };

  return (
    <div>
      <div
        className={`dropzone${over ? " over" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
        data-testid="dropzone"
      >
        <p>Drop files here, or</p>
        <label htmlFor={inputId} className="button secondary">
          Choose files
        </label>
        <input
          id={inputId}
          ref={input}
          className="visually-hidden"
          type="file"
          multiple
          accept=".png,.jpg,.jpeg,.webp,.gif,.csv,.txt,.json,image/png,image/jpeg,image/webp,image/gif,text/csv,text/plain,application/json"
          aria-label="Files"
          onChange={(event) => {
            if (event.target.files) add(event.target.files);
            event.target.value = "";
          }}
        />
        <p className="muted">PNG, JPEG, WebP, GIF, CSV, text or JSON; up to 20 MB each.</p>
      </div>
      {items.length > 0 && (
        <ul className="uploads" aria-live="polite">
          {items.map((item) => (
            <li key={item.key} className={`upload-${item.state}`}>
              <span>
                {item.name} <span className="muted">({formatBytes(item.size)})</span>
              </span>
              <span role={item.state === "error" ? "alert" : undefined}>
                {item.state === "uploading" && "Uploading…"}
                {item.state === "ready" && "Ready"}
                {item.state === "error" && item.error}
              </span>
              <button
                type="button"
                className="link"
                aria-label={`Remove ${item.name}`}
                onClick={() => onChange((current) => current.filter((i) => i.key !== item.key))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
