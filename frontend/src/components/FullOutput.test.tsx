import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { RunPage } from "../pages/RunPage";
import { agent, FakeApi, renderWithApi, run, step, type Reply } from "../test/fakeApi";
import { INLINE_FULL_OUTPUT_MAX_BYTES } from "./FullOutput";

const RUN_ID = "01RUN00000000000000000000A";
const STORAGE = "/_s3/agentlab-data/orgs/01ORG/runs/01RUN00000000000000000000A/outputs";
const FULL_STDOUT = Array.from({ length: 3000 }, (_, n) => `row ${n}`).join("\n");
const PREVIEW = "row 0\nrow 1\n[... 25870 characters omitted ...]\nrow 2999";

function ref(name: string, chars: number, signature = "1", bytes = chars) {
  const key = `orgs/01ORG/runs/${RUN_ID}/outputs/01OUT/${name}`;
  return { key, chars, bytes, url: `http://localhost:8000${STORAGE}/01OUT/${name}?X-Amz-Signature=${signature}` };
}

function execute(stdoutRef = ref("stdout.txt", FULL_STDOUT.length)) {
  return step(2, "execute", { tool: "python", code: "print(df)", stdout: PREVIEW, stderr: "", exit_code: 0 }, { full_output: { stdout: stdoutRef } });
}

function page(fake: FakeApi, steps: unknown[], current: Record<string, unknown> = run({ status: "succeeded" })) {
  fake
    .on("GET /v1/runs/:id", { body: current })
    .on("GET /v1/runs/:id/steps", (r) => ({ body: { items: steps.filter((s) => (s as { seq: number }).seq > Number(r.query.get("after") ?? 0)), next_cursor: null } }))
    .on("GET /v1/runs/:id/artifacts", { body: { items: [] } })
    .on("GET /v1/agents/:id", { body: agent() });
  return renderWithApi(
    <Routes>
      <Route path="/runs/:runId" element={<RunPage />} />
    </Routes>,
    fake,
    { path: `/runs/${RUN_ID}` },
  );
}

function deferred() {
  let resolve: (reply: Reply) => void = () => undefined;
  const promise = new Promise<Reply>((done) => (resolve = done));
  return { promise, resolve };
}

describe("full outputs", () => {
  it("shows a preview, then the whole text on request, fetched from storage without the API token", async () => {
    const answer = deferred();
    const fake = new FakeApi("viewer").on(`GET ${STORAGE}/01OUT/stdout.txt`, () => answer.promise);
    page(fake, [execute()]);
    const item = await screen.findByRole("listitem", { name: "Step 2: Execute" });
    const stdout = within(item).getByLabelText("stdout");
    expect(stdout.textContent).toBe(PREVIEW);
    expect(within(item).getByText("Preview of stdout: the full output is 25,889 characters, 25.3 KB.")).toBeTruthy();

    const user = userEvent.setup();
    await user.click(within(item).getByRole("button", { name: "Show full output of stdout" }));
    expect(within(item).getByRole("status").textContent).toContain("Loading the full stdout…");
    answer.resolve({ text: FULL_STDOUT });

    expect(await within(item).findByText("Full stdout (25,889 characters, 25.3 KB).")).toBeTruthy();
    expect(within(item).getByLabelText("stdout").textContent).toBe(FULL_STDOUT);
    const download = fake.calls("GET", `${STORAGE}/01OUT/stdout.txt`);
    expect(download).toHaveLength(1);
    expect(download[0].query.get("X-Amz-Signature")).toBe("1");
    expect(download[0].headers.Authorization).toBeUndefined();

    await user.click(within(item).getByRole("button", { name: "Show preview of stdout" }));
    expect(within(item).getByLabelText("stdout").textContent).toBe(PREVIEW);
  });

  it("says when the full output cannot be loaded, and tries again", async () => {
    let failures = 1;
    const fake = new FakeApi("viewer").on(`GET ${STORAGE}/01OUT/stdout.txt`, () => (failures-- > 0 ? { status: 500, text: "<Error/>" } : { text: FULL_STDOUT }));
    page(fake, [execute()]);
    const item = await screen.findByRole("listitem", { name: "Step 2: Execute" });
    const user = userEvent.setup();
    await user.click(within(item).getByRole("button", { name: "Show full output of stdout" }));

    const alert = await within(item).findByRole("alert");
    expect(alert.textContent).toContain("The full stdout could not be loaded: the storage service answered 500.");
    expect(within(item).getByLabelText("stdout").textContent).toBe(PREVIEW);
    await user.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await within(item).findByText(/^Full stdout/)).toBeTruthy();
    expect(within(item).queryByRole("alert")).toBeNull();
  });

  it("asks the API for a newly signed URL once when storage refuses an expired one", async () => {
    const fake = new FakeApi("viewer").on(`GET ${STORAGE}/01OUT/stdout.txt`, (r) =>
      r.query.get("X-Amz-Signature") === "expired" ? { status: 403, text: "<Error><Code>AccessDenied</Code></Error>" } : { text: FULL_STDOUT },
    );
    const steps = [execute(ref("stdout.txt", FULL_STDOUT.length, "expired"))];
    page(fake, steps);
    const item = await screen.findByRole("listitem", { name: "Step 2: Execute" });
    steps[0] = execute(ref("stdout.txt", FULL_STDOUT.length, "fresh"));

    await userEvent.setup().click(within(item).getByRole("button", { name: "Show full output of stdout" }));

    expect(await within(item).findByText(/^Full stdout/)).toBeTruthy();
    expect(fake.calls("GET", `${STORAGE}/01OUT/stdout.txt`).map((r) => r.query.get("X-Amz-Signature"))).toEqual(["expired", "fresh"]);
    const renewal = fake.calls("GET", `/v1/runs/${RUN_ID}/steps`).at(-1);
    expect([renewal?.query.get("after"), renewal?.query.get("limit")]).toEqual(["1", "1"]);
  });

  it("links to an output too large for the page instead of loading it", async () => {
    const huge = ref("stdout.txt", 150_000_000, "1", INLINE_FULL_OUTPUT_MAX_BYTES + 1);
    const fake = new FakeApi("viewer");
    page(fake, [execute(huge)]);
    const item = await screen.findByRole("listitem", { name: "Step 2: Execute" });

    const link = within(item).getByRole("link", { name: "Open full output of stdout in a new tab" });

    expect(link.getAttribute("href")).toBe(huge.url);
    expect(link.getAttribute("target")).toBe("_blank");
    expect(link.getAttribute("rel")).toContain("noopener");
    expect(within(item).queryByRole("button", { name: /Show full output/ })).toBeNull();
    expect(fake.requests.some((r) => r.path.startsWith(STORAGE))).toBe(false);
  });

  it("offers the run's whole result and a step's whole tool calls, shown as indented JSON", async () => {
    const answer = "The answer, at length. ".repeat(2000);
    const calls = [{ id: "c1", name: "python", arguments: { code: "x = 1\n".repeat(5) } }];
    const think = step(
      1,
      "think",
      { text: "A long cell.", tool_calls: [{ id: "c1", name: "python", arguments: { code: "x = 1\n[... 20 characters omitted ...]" } }] },
      { full_output: { tool_calls: ref("tool_calls.json", 120) } },
    );
    const fake = new FakeApi("viewer")
      .on(`GET ${STORAGE}/01OUT/result.txt`, { text: answer })
      .on(`GET ${STORAGE}/01OUT/tool_calls.json`, { text: JSON.stringify(calls) });
    page(fake, [think], run({ status: "succeeded", result: "The answer, at length. [... 45000 characters omitted ...]", result_full: ref("result.txt", answer.length) }));
    const user = userEvent.setup();

    const result = await screen.findByRole("region", { name: "Result" });
    await user.click(within(result).getByRole("button", { name: "Show full output of result" }));
    expect(await within(result).findByText(/^Full result/)).toBeTruthy();
    expect(result.querySelector(".answer")?.textContent).toBe(answer);

    const item = screen.getByRole("listitem", { name: "Step 1: Think" });
    await user.click(within(item).getByRole("button", { name: "Show full output of tool calls" }));
    expect(await within(item).findByText(/^Full tool calls/)).toBeTruthy();
    expect(within(item).getByLabelText("tool calls").textContent).toBe(JSON.stringify(calls, null, 2));
  });
});
