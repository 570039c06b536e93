import type { Artifact, Step } from "../api/types";
import { formatBytes } from "../api/uploads";
import { formatCost, formatDuration, formatTime } from "../lib/format";
import { CodeBlock } from "./CodeBlock";
import { ScriptedLabel } from "./StatusBadge";

type Detail = Record<string, unknown>;

const TITLES: Record<Step["type"], string> = {
  think: "Think",
  critique: "Critique",
  execute: "Execute",
  evaluate: "Evaluate goal",
  approval: "Approval",
  error: "Error",
};

function str(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
}

function Output({ label, text, tone }: { label: string; text: string; tone?: "error" }) {
  if (!text) return null;
  return (
    <div className="output">
      <h4>{label}</h4>
      <pre className={tone === "error" ? "stream stderr" : "stream"} tabIndex={0} aria-label={label}>
        {text}
      </pre>
    </div>
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

function ThinkDetail({ step, detail }: { step: Step; detail: Detail }) {
  const calls = Array.isArray(detail.tool_calls) ? (detail.tool_calls as { name: string; arguments: Detail }[]) : [];
  const text = str(detail.text);
  return (
    <>
      {text && <p className="reasoning">{text}</p>}
      {calls.map((call, index) => (
        <div key={index} className="tool-call">
          <span className="muted">Proposes</span> <code>{call.name}</code>
          {call.name === "request_approval" && <span>: {str(call.arguments?.reason)}</span>}
          {call.name === "finish" && <span className="muted"> (its answer is the run's result)</span>}
          {call.name === "read_file" && <span>: {str(call.arguments?.path)}</span>}
        </div>
      ))}
      <dl className="facts">
        <dt>Tokens</dt>
        <dd>
          {step.input_tokens} in / {step.output_tokens} out
        </dd>
        <dt>Cost</dt>
        <dd>{formatCost(step.cost_usd)}</dd>
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

function CritiqueDetail({ detail }: { detail: Detail }) {
  const findings = Array.isArray(detail.findings) ? (detail.findings as Finding[]) : [];
  const verdict = str(detail.verdict);
  return (
    <>
      <p>
        Verdict: <span className={`badge verdict-${verdict}`}>{verdict || "unknown"}</span>
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
    </>
  );
}

function ExecuteDetail({ detail, artifacts }: { detail: Detail; artifacts: Map<string, Artifact> }) {
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
      <CodeBlock code={str(detail.code)} label="Code" />
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
      </dl>
      <Output label="stdout" text={str(detail.stdout)} />
      <Output label="stderr" text={str(detail.stderr)} tone="error" />
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

function EvaluateDetail({ detail }: { detail: Detail }) {
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
          <p className="answer">{str(detail.answer)}</p>
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

export function StepView({ step, artifacts }: { step: Step; artifacts: Map<string, Artifact> }) {
  const detail = step.detail ?? {};
  const scripted = step.provider === "scripted" || detail.scripted === true;
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
      {step.type === "think" && <ThinkDetail step={step} detail={detail} />}
      {step.type === "critique" && <CritiqueDetail detail={detail} />}
      {step.type === "execute" && <ExecuteDetail detail={detail} artifacts={artifacts} />}
      {step.type === "evaluate" && <EvaluateDetail detail={detail} />}
      {step.type === "approval" && <ApprovalDetail detail={detail} />}
      {step.type === "error" && (
        <p className="error-text">
          <code>{str(detail.code)}</code> {str(detail.message)}
        </p>
      )}
    </li>
  );
}
