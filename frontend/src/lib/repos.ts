// What the repository pages share: who may change a repository, and how its config and baselines read.
import { ApiError } from "../api/client";
import type { Artifact, RepoCommandName, RepoConfig, RepoConfigUpdate, Run } from "../api/types";
import { REPO_COMMAND_NAMES, REPO_WORKFLOW } from "../api/types";

/** The actions of the permission table that read and change repositories (a viewer reads, an operator writes). */
export const REPOS_READ = "repos.read";
export const REPOS_WRITE = "repos.write";
/** The artifacts a repo run writes that a person opens from the repository page. */
export const BASELINE_ARTIFACTS = ["logs.txt", "baseline.json"];
const SHORT_SHA = 12;

export function isRepoRun(run: Pick<Run, "workflow">): boolean {
  return run.workflow === REPO_WORKFLOW;
}

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, SHORT_SHA) : "—";
}

/** The repository's name as its URL gives it ("https://host/acme/fastmath.git" → "fastmath"), for a placeholder. */
export function nameFromUrl(url: string): string {
  const last = url.trim().replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
  return last.replace(/\.git$/, "");
}

/** A benchmark figure with the digits that tell close samples apart. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  if (seconds < 1e-3) return `${(seconds * 1e6).toPrecision(3)} µs`;
  if (seconds < 1) return `${(seconds * 1000).toPrecision(3)} ms`;
  return `${seconds.toPrecision(4)} s`;
}

export function formatConfidence(confidence: number | null | undefined): string {
  return confidence == null ? "—" : `${Math.round(confidence * 100)}%`;
}

/** The commands shown in order: the known ones, then any the server knows and this page does not. */
export function commandNames(config: RepoConfig): RepoCommandName[] {
  const others = Object.keys(config.effective).filter((name) => !REPO_COMMAND_NAMES.includes(name as RepoCommandName));
  return [...REPO_COMMAND_NAMES, ...(others.sort() as RepoCommandName[])];
}

/** The commands the detector was not sure of and nobody has confirmed or replaced yet. */
export function pendingConfirmation(config: RepoConfig): RepoCommandName[] {
  return commandNames(config).filter((name) => config.effective[name]?.needs_confirmation);
}

/** The overrides form: one text per command ("" uses the detected command) and the benchmark's run count ("" the default). */
export interface ConfigForm {
  overrides: Record<string, string>;
  benchRuns: string;
}

export function formOf(config: RepoConfig): ConfigForm {
  const overrides: Record<string, string> = {};
  for (const name of commandNames(config)) overrides[name] = config.overrides[name] ?? "";
  return { overrides, benchRuns: config.bench_runs == null ? "" : String(config.bench_runs) };
}

/**
 * The form on a newer config: what the person changed stays, what they left alone follows the server, so confirming
 * a command (a new revision) keeps unsaved edits.
 */
export function rebaseForm(form: ConfigForm, before: RepoConfig, after: RepoConfig): ConfigForm {
  const old = formOf(before);
  const fresh = formOf(after);
  const overrides = { ...fresh.overrides };
  for (const [name, text] of Object.entries(form.overrides)) {
    if (text !== old.overrides[name] && text.trim() !== fresh.overrides[name]) overrides[name] = text;
  }
  return { overrides, benchRuns: form.benchRuns !== old.benchRuns ? form.benchRuns : fresh.benchRuns };
}

export function formChanged(form: ConfigForm, config: RepoConfig): boolean {
  return JSON.stringify(form) !== JSON.stringify(formOf(config));
}

/** The PUT body of the form: PUT replaces the overrides, so every command with one is sent; a blank one is null. */
export function configUpdate(form: ConfigForm, config: RepoConfig, confirm: RepoCommandName[] = []): RepoConfigUpdate {
  const overrides: RepoConfigUpdate["overrides"] = {};
  for (const [name, text] of Object.entries(form.overrides)) {
    const command = text.trim();
    if (command) overrides[name as RepoCommandName] = command;
    else if (config.overrides[name as RepoCommandName]) overrides[name as RepoCommandName] = null;
  }
  const confirmed = [...config.confirmed, ...confirm.filter((name) => !config.confirmed.includes(name))];
  const update: RepoConfigUpdate = { overrides, confirmed, expected_revision: config.revision };
  // Blank keeps the deployment's default.
  if (form.benchRuns.trim()) update.bench_runs = Number(form.benchRuns);
  return update;
}

/** The confirm action alone: the saved overrides as they are, one more command confirmed. */
export function confirmUpdate(config: RepoConfig, name: RepoCommandName): RepoConfigUpdate {
  const overrides: RepoConfigUpdate["overrides"] = {};
  for (const [command, text] of Object.entries(config.overrides)) {
    if (text) overrides[command as RepoCommandName] = text;
  }
  const confirmed = config.confirmed.includes(name) ? config.confirmed : [...config.confirmed, name];
  return { overrides, confirmed, expected_revision: config.revision };
}

/** The baseline's own "not yet" answer, as opposed to a failure to read it. */
export function isNoBaseline(error: unknown): boolean {
  return error instanceof ApiError && (error.code === "no_baseline" || error.status === 404);
}

export function baselineArtifacts(artifacts: Artifact[]): Artifact[] {
  return BASELINE_ARTIFACTS.flatMap((name) => artifacts.filter((artifact) => artifact.name === name));
}
