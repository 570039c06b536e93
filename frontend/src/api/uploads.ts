// Uploads: declare the file, POST it to the presigned form, then ask the server to check what arrived.
import { ApiClient, ApiError } from "./client";
import type { FileCreated, FileRecord } from "./types";

export const ACCEPTED_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif", "text/csv", "text/plain", "application/json"];
/** The server's default cap (AGENTLAB_MAX_UPLOAD_BYTES); the server checks again, and its answer is shown. */
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

const BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  csv: "text/csv",
  txt: "text/plain",
  json: "application/json",
};

/** The declared type: the browser's when it is one we accept, else the one the extension names (browsers differ on CSV). */
export function declaredType(file: File): string | null {
  if (ACCEPTED_TYPES.includes(file.type)) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return BY_EXTENSION[extension] ?? null;
}

/** Why a file cannot be uploaded, or null when it may be. */
export function checkFile(file: File, maxBytes = MAX_UPLOAD_BYTES): string | null {
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > maxBytes) return `${file.name} is ${formatBytes(file.size)}; files are limited to ${formatBytes(maxBytes)}.`;
  if (!declaredType(file)) return `${file.name}: only PNG, JPEG, WebP, GIF, CSV, text and JSON files are accepted.`;
  return null;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function storageMessage(text: string): string | null {
  const match = /<Message>([^<]*)<\/Message>/.exec(text);
  return match ? match[1] : null;
}

export async function uploadFile(api: ApiClient, file: File): Promise<FileRecord> {
  const problem = checkFile(file);
  if (problem) throw new ApiError(0, "invalid_file", problem);
  const contentType = declaredType(file) as string;
  const created = await api.post<FileCreated>("/v1/files", { name: file.name, content_type: contentType, size: file.size });
  const form = new FormData();
  for (const [name, value] of Object.entries(created.upload.fields)) form.append(name, value);
  form.append("file", file); // the storage service reads fields up to the file: it goes last
  let posted: Response;
  try {
    posted = await api.fetchRaw(created.upload.url, { method: "POST", body: form });
  } catch {
    throw new ApiError(0, "upload_failed", `${file.name} could not be uploaded: the storage service cannot be reached.`);
  }
  if (!posted.ok) {
    const detail = storageMessage(await posted.text());
    throw new ApiError(posted.status, "upload_failed", `${file.name} could not be uploaded${detail ? `: ${detail}` : "."}`);
  }
  return api.post<FileRecord>(`/v1/files/${created.file.id}/complete`);
}
