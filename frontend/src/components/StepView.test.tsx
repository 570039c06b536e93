import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Step } from "../api/types";
import { FakeApi, renderWithApi, step } from "../test/fakeApi";
import { StepView } from "./StepView";

function show(value: ReturnType<typeof step>, { ended = false } = {}) {
  renderWithApi(
    <ol>
      <StepView step={value as Step} artifacts={new Map()} ended={ended} />
    </ol>,
    new FakeApi("member"),
  );
  return screen.findByRole("listitem", { name: /^Step / });
}

/** The value of a `<dt>` label in a step's facts. */
function fact(item: HTMLElement, label: string): HTMLElement {
  const term = within(item).getByText(label, { selector: "dt" });
  return term.nextElementSibling as HTMLElement;
}

const PROBLEM =
  'The call to `python` was not run: code: Field required. Call it again with arguments that match its schema: {"properties":{"code":{"type":"string"}}}';

describe("think steps", () => {
  it("say a reply cut off by the output limit was not run and was asked again", async () => {
    const item = await show(step(2, "think", { text: "Here is a very long", tool_calls: [], reply: "truncated", max_tokens: 4096, stop_reason: "max_tokens" }));
    expect(within(item).getByRole("note").textContent).toBe("Cut off by the output limit of 4096 tokens: nothing in it was run — asked again.");
  });

  it("say the run stopped when a cut-off reply was the last one it allowed", async () => {
    const item = await show(step(6, "think", { text: "", tool_calls: [], reply: "truncated", max_tokens: 4096 }), { ended: true });
    expect(within(item).getByRole("note").textContent).toMatch(/output limit of 4096 tokens.*the run stopped here/);
  });

  it("say an empty reply was asked again", async () => {
    const item = await show(step(3, "think", { text: "", tool_calls: [], reply: "empty", stop_reason: "end_turn" }));
    expect(within(item).getByRole("note").textContent).toBe("Empty reply — asked again.");
  });

  it("show why a tool call was not run", async () => {
    const item = await show(step(4, "think", { text: "Let me run it.", tool_calls: [{ id: "c1", name: "python", arguments: {} }], reply: "calls", problem: PROBLEM }));
    const note = within(item).getByRole("note");
    expect(note.textContent).toBe(`Not run: ${PROBLEM}`);
    expect(note.className).toContain("problem");
  });

  it("say nothing more about a normal call", async () => {
    const item = await show(step(1, "think", { text: "Loading.", tool_calls: [{ id: "c1", name: "python", arguments: { code: "1" } }], reply: "calls" }));
    expect(within(item).queryByRole("note")).toBeNull();
    expect(within(item).queryByText("Reasoning model")).toBeNull();
  });

  it("show both models of a code-model turn, each with its tokens and cost, and a total that is unknown", async () => {
    const detail = {
      text: "",
      tool_calls: [{ id: "c1", name: "python", arguments: { task: "sum the column", code: "print(df.x.sum())" } }],
      reply: "calls",
      reasoning_model: { provider: "bedrock", model_id: "anthropic.claude-3-5-sonnet", input_tokens: 900, output_tokens: 40, cost_usd: 0.0033, cost_known: true },
      code_model: { provider: "openai", model_id: "qwen2.5-coder", input_tokens: 300, output_tokens: 20, cost_usd: 0, cost_known: false },
    };
    const item = await show(step(5, "think", detail, { model_id: "anthropic.claude-3-5-sonnet", provider: "bedrock", input_tokens: 1200, output_tokens: 60, cost_usd: 0.0033, cost_known: false }));
    expect(fact(item, "Reasoning model").textContent).toBe("anthropic.claude-3-5-sonnet (bedrock) · 900 in / 40 out · $0.0033");
    expect(fact(item, "Code model").textContent).toMatch(/^qwen2\.5-coder \(openai\) · 300 in \/ 20 out · unknown \(unpriced model\)/);
    expect(fact(item, "Tokens, both models").textContent).toBe("1200 in / 60 out");
    const total = fact(item, "Cost, both models").querySelector(".cost-unknown") as HTMLElement;
    expect(total.firstChild?.textContent).toBe("unknown (unpriced model; ≥ $0.0033)");
    expect(total.title).toMatch(/Only the priced models' calls are counted: \$0\.0033/);
  });
});

describe("critique and execute steps", () => {
  it("say blocked code ran anyway under the warn mode", async () => {
    const finding = { tool: "policy", code: "forbidden-call", message: "os.system is forbidden", line: 1, severity: "error" };
    const warned = await show(step(2, "critique", { verdict: "block", mode: "warn", findings: [finding], findings_total: 1 }));
    expect(within(warned).getByText(/Verdict:/).textContent).toBe("Verdict: block — ran anyway (critic mode: warn)");
  });

  it("say blocked code was not run under the enforce mode", async () => {
    const finding = { tool: "policy", code: "forbidden-call", message: "os.system is forbidden", line: 1, severity: "error" };
    const enforced = await show(step(2, "critique", { verdict: "block", mode: "enforce", findings: [finding], findings_total: 3 }));
    expect(within(enforced).getByText(/Verdict:/).textContent).toBe("Verdict: block — not run (critic mode: enforce)");
    expect(within(enforced).getByText("2 more findings are not recorded.")).toBeTruthy();
  });

  it("mark a cell of an agent whose critic is off", async () => {
    const item = await show(step(3, "execute", { tool: "python", code: "import os", stdout: "", stderr: "", exit_code: 0, critic: "off" }));
    expect(fact(item, "Critic").textContent).toBe("off: no static check, the sandbox contained the cell");
  });

  it("say nothing about the critic when it was on", async () => {
    const item = await show(step(3, "execute", { tool: "python", code: "1", stdout: "", stderr: "", exit_code: 0, critic: "enforce" }));
    expect(within(item).queryByText("Critic", { selector: "dt" })).toBeNull();
  });
});

describe("repo run steps", () => {
  it("show a phase with its command, exit code, network and output", async () => {
    const item = await show(
      step(3, "phase", { phase: "install", command: "npm ci", exit_code: 1, limit: null, network: true, output_tail: "ERR! 404 express" }),
    );
    expect(item.getAttribute("aria-label")).toBe("Step 3: Phase");
    expect(within(item).getByText("npm ci").tagName).toBe("CODE");
    expect(within(item).getByText("exit 1").className).toContain("verdict-block");
    expect(item.textContent).toContain("network");
    expect(item.textContent).toContain("ERR! 404 express");
  });

  it("show a failed checkout with its reason", async () => {
    const item = await show(step(1, "checkout", { ok: false, code: "repo_too_large", message: "over 200 MB" }));
    expect(item.getAttribute("aria-label")).toBe("Step 1: Checkout");
    expect(within(item).getByText("repo_too_large").tagName).toBe("CODE");
    expect(item.textContent).toContain("over 200 MB");
  });

  it("show what discovery found and the candidates, best first", async () => {
    const item = await show(
      step(12, "discover", {
        scanned_files: 4,
        opportunities: 3,
        candidates: 1,
        profiled: true,
        top: [{ id: "abc", type: "list-membership-in-loop", file: "src/primes.mjs", line: 7, template: "list-to-set-membership" }],
      }),
    );
    expect(item.getAttribute("aria-label")).toBe("Step 12: Discover");
    expect(item.textContent).toContain("3 findings in 4 files · 1 candidate");
    expect(item.textContent).toContain("ranked by the profile");
    expect(within(item).getByText("list-membership-in-loop").tagName).toBe("CODE");
    expect(item.textContent).toContain("src/primes.mjs:7");
  });
});
