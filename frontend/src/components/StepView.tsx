import { useCallback } from "react";
import type { Artifact, OutputRef, Page, Step } from "../api/types";
import { formatBytes } from "../api/uploads";
import { useApi } from "../auth/AuthContext";
import { formatDuration, formatTime } from "../lib/format";
import { CodeBlock } from "./CodeBlock";
import { Cost } from "./Cost";
import { Previewed } from "./FullOutput";
import { ScriptedLabel } from "./StatusBadge";

type Detail = Record<string, unknown>;
type Full = Record<string, OutputRef>;
/** A fresh reference to one full output of this step (its URL newly signed). */
type Renew = (field: string) => () => Promise<OutputRef | undefined>;

// Highlighting is for reading a cell; a very long one (a full output) is shown as plain text.
const HIGHLIGHT_MAX_CHARS = 100_000;

// The detail fields each kind of step shows in place; any other field with a full output is listed after them.
const SHOWN_FIELDS: Partial<Record<Step["type"], string[]>> = {
  think: ["text"],
  execute: ["code", "stdout", "stderr"],
  evaluate: ["answer"],
};
const FIELD_LABELS: Record<string, string> = { text: "reasoning", tool_calls: "tool calls" };

const TITLES: Record<Step["type"], string> = {
  think: "Think",
  critique: "Critique",
  execute: "Execute",
  evaluate: "Evaluate goal",
  approval: "Approval",
  error: "Error",
  checkout: "Checkout",
  detect: "Detect commands",
  phase: "Phase",
  discover: "Discover",
};

function str(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
}

function Output({
  label,
  text,
  tone,
  output,
  renew,
}: {
  label: string;
  text: string;
  tone?: "error";
  output?: OutputRef;
  renew?: () => Promise<OutputRef | undefined>;
}) {
  if (!text && !output) return null;
  return (
    <div className="output">
      <h4>{label}</h4>
      <Previewed label={label} preview={text} output={output} renew={renew}>
        {(shown) => (
          <pre className={tone === "error" ? "stream stderr" : "stream"} tabIndex={0} aria-label={label}>
            {shown}
          </pre>
        )}
      </Previewed>
    </div>
  );
}

/** Full outputs of fields the step's view does not show in place (tool calls, a code model's task, ...). */
function OtherOutputs({ step, renew }: { step: Step; renew: Renew }) {
  const shown = new Set(SHOWN_FIELDS[step.type] ?? []);
  const others = Object.entries(step.full_output ?? {}).filter(([field]) => !shown.has(field));
  return (
    <>
      {others.map(([field, output]) => (
        <Output
          key={field}
          label={FIELD_LABELS[field] ?? field.replace(/_/g, " ")}
          text={str(step.detail?.[field])}
          output={output}
          renew={renew(field)}
        />
      ))}
    </>
  );
}

export function ArtifactView({ artifact }: { artifact: Artifact }) {
  const isImage = artifact.content_type.startsWith("image/") && artifact.url;
  return (
    <figure className="artifact">
      {isImage && <img src={artifact.url ?? undefined} alt={`Artifact ${artifact.name}`} loading="lazy" />}
      <figcaption>
        {artifact.url ? (
          <a href={artifact.url} download={artifact.name}>
            Download {artifact.name}
          </a>
        ) : (
          artifact.name
        )}{" "}
        <span className="muted">
          ({artifact.content_type}, {formatBytes(artifact.size)})
        </span>
      </figcaption>
    </figure>
  );
}

/** One model call of a think step, as `think` records it for the reasoning and the code model. */
interface ModelCall {
  provider?: string;
  model_id?: string;
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
  cost_known?: boolean;
}

function ModelUse({ call }: { call: ModelCall }) {
  return (
    <>
      <code className="model">{call.model_id ?? "unknown model"}</code>
      {call.provider && call.provider !== call.model_id && <span className="muted"> ({call.provider})</span>} · {call.input_tokens ?? 0} in /{" "}
      {call.output_tokens ?? 0} out · <Cost usd={call.cost_usd ?? 0} known={call.cost_known} />
    </>
  );
}

/** What became of a reply that was neither tool calls nor an answer (workflow/replies.py `classify`). */
function replyNote(detail: Detail, ended: boolean): string | null {
  const after = ended ? "the run stopped here" : "asked again";
  const limit = typeof detail.max_tokens === "number" ? ` of ${detail.max_tokens} tokens` : "";
  switch (detail.reply) {
    case "truncated":
      return `Cut off by the output limit${limit}: nothing in it was run — ${after}.`;
    case "empty":
      return `Empty reply — ${after}.`;
    case "refused":
      return `Withheld by the provider (stop reason: ${str(detail.stop_reason) || "unknown"}) — the run stopped.`;
    default:
      return null;
  }
}

function ThinkDetail({ step, detail, full, renew, ended }: { step: Step; detail: Detail; full: Full; renew: Renew; ended: boolean }) {
  const calls = Array.isArray(detail.tool_calls) ? (detail.tool_calls as { name: string; arguments: Detail }[]) : [];
  const text = str(detail.text);
  const note = replyNote(detail, ended);
  const problem = str(detail.problem);
  const reasoningModel = detail.reasoning_model as ModelCall | undefined;
  const twoModels = Boolean(reasoningModel) || "code_model" in detail;
  return (
    <>
      {note && (
        <p className="step-note" role="note">
          {note}
        </p>
      )}
      {text && (
        <Previewed label="reasoning" preview={text} output={full.text} renew={renew("text")}>
          {(shown) => <p className="reasoning">{shown}</p>}
        </Previewed>
      )}
      {calls.map((call, index) => (
        <div key={index} className="tool-call">
          <span className="muted">Proposes</span> <code>{call.name}</code>
          {call.name === "request_approval" && <span>: {str(call.arguments?.reason)}</span>}
          {call.name === "finish" && <span className="muted"> (its answer is the run's result)</span>}
          {call.name === "read_file" && <span>: {str(call.arguments?.path)}</span>}
        </div>
      ))}
      {problem && (
        <p className="step-note problem" role="note">
          <strong>Not run:</strong> {problem}
        </p>
      )}
      <dl className="facts">
        {twoModels && (
          <>
            <dt>Reasoning model</dt>
            <dd>{reasoningModel ? <ModelUse call={reasoningModel} /> : "not recorded"}</dd>
            <dt>Code model</dt>
            <dd>{detail.code_model ? <ModelUse call={detail.code_model as ModelCall} /> : "not called"}</dd>
          </>
        )}
        <dt>{twoModels ? "Tokens, both models" : "Tokens"}</dt>
        <dd>
          {step.input_tokens} in / {step.output_tokens} out
        </dd>
        <dt>{twoModels ? "Cost, both models" : "Cost"}</dt>
        <dd>
          <Cost usd={step.cost_usd} known={step.cost_known} />
        </dd>
        {Array.isArray(detail.fallback_attempts) && detail.fallback_attempts.length > 0 && (
          <>
            <dt>Fallbacks</dt>
            <dd>{detail.fallback_attempts.length}</dd>
          </>
        )}
      </dl>
    </>
  );
}

interface Finding {
  tool: string;
  code: string;
  message: string;
  line: number | null;
  severity: string;
}

/** What a verdict meant for the cell under the agent's critic mode (workflow/critique.py). */
function critiqueOutcome(verdict: string, mode: string): string | null {
  if (verdict !== "block") return null;
  if (mode === "warn") return "ran anyway";
  return mode === "enforce" || !mode ? "not run" : null;
}

function CritiqueDetail({ detail }: { detail: Detail }) {
  const findings = Array.isArray(detail.findings) ? (detail.findings as Finding[]) : [];
  const verdict = str(detail.verdict);
  const mode = str(detail.mode);
  const outcome = critiqueOutcome(verdict, mode);
  const total = typeof detail.findings_total === "number" ? detail.findings_total : findings.length;
  return (
    <>
      <p>
        Verdict: <span className={`badge verdict-${verdict}`}>{verdict || "unknown"}</span>
        {outcome && <strong className={outcome === "ran anyway" ? "warn-text" : "error-text"}> — {outcome}</strong>}
        {mode && <span className="muted"> (critic mode: {mode})</span>}
      </p>
      {findings.length === 0 ? (
        <p className="muted">No findings.</p>
      ) : (
        <ul className="findings">
          {findings.map((finding, index) => (
            <li key={index} className={`severity-${finding.severity}`}>
              <strong>{finding.severity}</strong> {finding.tool} {finding.code}
              {finding.line != null && ` (line ${finding.line})`}: {finding.message}
            </li>
          ))}
        </ul>
      )}
      {total > findings.length && <p className="muted">{total - findings.length} more findings are not recorded.</p>}
    </>
  );
}

function ExecuteDetail({
  detail,
  artifacts,
  full,
  renew,
}: {
  detail: Detail;
  artifacts: Map<string, Artifact>;
  full: Full;
  renew: Renew;
}) {
  const tool = str(detail.tool) || "python";
  if (tool === "list_files") {
    return <Output label="Files" text={str(detail.files)} />;
  }
  if (tool === "read_file") {
    return (
      <p>
        Read <code>{str(detail.path)}</code>
        {detail.error ? <span className="error-text">: {str(detail.error)}</span> : ` (${str(detail.size)} bytes)`}
      </p>
    );
  }
  const exitCode = detail.exit_code as number | null | undefined;
  const stepArtifacts = Array.isArray(detail.artifacts) ? (detail.artifacts as { id: string; name: string }[]) : [];
  return (
    <>
      <Previewed label="code" preview={str(detail.code)} output={full.code} renew={renew("code")}>
        {(code) => <CodeBlock code={code} label="Code" language={code.length > HIGHLIGHT_MAX_CHARS ? "text" : "python"} />}
      </Previewed>
      <dl className="facts">
        <dt>Exit code</dt>
        <dd className={exitCode === 0 ? "ok-text" : "error-text"}>{exitCode ?? "none"}</dd>
        {detail.limit ? (
          <>
            <dt>Limit hit</dt>
            <dd className="error-text">{str(detail.limit)}</dd>
          </>
        ) : null}
        {detail.isolation ? (
          <>
            <dt>Isolation</dt>
            <dd>{str(detail.isolation)}</dd>
          </>
        ) : null}
        {detail.kernel_restarted ? (
          <>
            <dt>Kernel</dt>
            <dd>restarted</dd>
          </>
        ) : null}
        {detail.critic === "off" ? (
          <>
            <dt>Critic</dt>
            <dd>off: no static check, the sandbox contained the cell</dd>
          </>
        ) : null}
      </dl>
      <Output label="stdout" text={str(detail.stdout)} output={full.stdout} renew={renew("stdout")} />
      <Output label="stderr" text={str(detail.stderr)} tone="error" output={full.stderr} renew={renew("stderr")} />
      {stepArtifacts.length > 0 && (
        <div className="artifacts">
          {stepArtifacts.map((ref) => {
            const artifact = artifacts.get(ref.id);
            return artifact ? <ArtifactView key={ref.id} artifact={artifact} /> : <p key={ref.id}>{ref.name}</p>;
          })}
        </div>
      )}
    </>
  );
}

function EvaluateDetail({ detail, full, renew }: { detail: Detail; full: Full; renew: Renew }) {
  const check = detail.check as Detail | undefined;
  return (
    <>
      <p>
        Goal:{" "}
        <span className={`badge ${detail.met ? "verdict-pass" : "verdict-block"}`}>{detail.met ? "met" : "not met"}</span>{" "}
        {str(detail.reason)}
      </p>
      {check && (
        <>
          <p>Check exit code: {str(check.exit_code)}</p>
          <Output label="Check stdout" text={str(check.stdout)} />
          <Output label="Check stderr" text={str(check.stderr)} tone="error" />
        </>
      )}
      {detail.answer ? (
        <details>
          <summary>Answer</summary>
          <Previewed label="answer" preview={str(detail.answer)} output={full.answer} renew={renew("answer")}>
            {(answer) => <p className="answer">{answer}</p>}
          </Previewed>
        </details>
      ) : null}
    </>
  );
}

function ApprovalDetail({ detail }: { detail: Detail }) {
  const approved = detail.decision === "approved";
  return (
    <p>
      <span className={`badge ${approved ? "verdict-pass" : "verdict-block"}`}>{str(detail.decision)}</span>
      {detail.by ? <> by {str(detail.by)}</> : null}
      {detail.comment ? <>: “{str(detail.comment)}”</> : null}
    </p>
  );
}

/** A repo run's checkout: the commit it got, or why it got none. */
function CheckoutDetail({ detail }: { detail: Detail }) {
  if (detail.ok === false) {
    return (
      <p className="error-text">
        <code>{str(detail.code)}</code> {str(detail.message)}
      </p>
    );
  }
  return (
    <p>
      <code>{str(detail.commit_sha).slice(0, 12)}</code> on {str(detail.branch)} · {str(detail.files)} files
    </p>
  );
}

/** A repo run's detected commands, with their origin and confidence. */
function DetectDetail({ detail }: { detail: Detail }) {
  const commands = (detail.commands ?? {}) as Record<string, { command?: string; origin?: string; confidence?: number | null }>;
  return (
    <ul className="detected-commands">
      {Object.entries(commands).map(([name, found]) => (
        <li key={name}>
          <strong>{name}</strong> <code>{str(found.command)}</code>{" "}
          <span className="muted">
            {found.origin === "override" ? "override" : `detected, confidence ${found.confidence ?? "?"}`}
          </span>
        </li>
      ))}
    </ul>
  );
}

/** One phase of a repo run's baseline: its command, exit code and limit, and the tail of its output. */
function PhaseDetail({ detail }: { detail: Detail }) {
  const ok = detail.exit_code === 0 && !detail.limit;
  return (
    <>
      <p>
        <strong>{str(detail.phase)}</strong>
        {detail.run ? <> #{str(detail.run)}</> : null} <code>{str(detail.command)}</code>{" "}
        <span className={`badge ${ok ? "verdict-pass" : "verdict-block"}`}>
          {detail.limit ? `limit ${str(detail.limit)}` : `exit ${str(detail.exit_code)}`}
        </span>
        {detail.network ? <span className="muted"> · network</span> : null}
      </p>
      {detail.output_tail ? <CodeBlock code={str(detail.output_tail)} language="text" label="Output" /> : null}
    </>
  );
}

/** A repo run's discovery: what the scan found and the candidate patches it made, best first. */
function DiscoverDetail({ detail }: { detail: Detail }) {
  const top = (detail.top ?? []) as { id: string; type: string; file: string; line: number; template?: string }[];
  return (
    <>
      <p>
        {str(detail.opportunities)} findings in {str(detail.scanned_files)} files · {str(detail.candidates)} candidate
        patches{detail.profiled ? " · ranked by the profile" : ""}
      </p>
      <ul className="detected-commands">
        {top.map((candidate) => (
          <li key={candidate.id}>
            <code>{candidate.type}</code> {candidate.file}:{candidate.line}
          </li>
        ))}
      </ul>
    </>
  );
}

/** `ended`: the run ended after this step (a reply it would have asked again for stopped the run instead). */
export function StepView({ step, artifacts, ended = false }: { step: Step; artifacts: Map<string, Artifact>; ended?: boolean }) {
  const api = useApi();
  const detail = step.detail ?? {};
  const full = step.full_output ?? {};
  const scripted = step.provider === "scripted" || detail.scripted === true;
  const renew = useCallback<Renew>(
    (field) => async () => {
      const page = await api.get<Page<Step>>(`/v1/runs/${step.run_id}/steps`, { query: { after: step.seq - 1, limit: 1 } });
      return page.items.find((item) => item.seq === step.seq)?.full_output?.[field];
    },
    [api, step.run_id, step.seq],
  );
  return (
    <li className={`step step-${step.type}`} aria-label={`Step ${step.seq}: ${TITLES[step.type]}`}>
      <header>
        <span className="seq">#{step.seq}</span>
        <h3>{TITLES[step.type] ?? step.type}</h3>
        {step.model_id && <code className="model">{step.model_id}</code>}
        {scripted && <ScriptedLabel />}
        <span className="muted when">
          {formatTime(step.created_at)} · {formatDuration(step.duration_ms)}
        </span>
      </header>
      {step.type === "think" && <ThinkDetail step={step} detail={detail} full={full} renew={renew} ended={ended} />}
      {step.type === "critique" && <CritiqueDetail detail={detail} />}
      {step.type === "execute" && <ExecuteDetail detail={detail} artifacts={artifacts} full={full} renew={renew} />}
      {step.type === "evaluate" && <EvaluateDetail detail={detail} full={full} renew={renew} />}
      {step.type === "approval" && <ApprovalDetail detail={detail} />}
      {step.type === "checkout" && <CheckoutDetail detail={detail} />}
      {step.type === "detect" && <DetectDetail detail={detail} />}
      {step.type === "phase" && <PhaseDetail detail={detail} />}
      {step.type === "discover" && <DiscoverDetail detail={detail} />}
      {step.type === "error" && (
        <p className="error-text">
          <code>{str(detail.code)}</code> {str(detail.message)}
        </p>
      )}
      <OtherOutputs step={step} renew={renew} />
    </li>
  );
}
