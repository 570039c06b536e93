import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { parseEnvRow } from "../components/EnvEditor";
import { costLabel, formatCost, formatDuration, runDuration } from "./format";
import { nextDelay } from "./useResource";

describe("formatting", () => {
  it("writes durations and costs for people", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(250)).toBe("250 ms");
    expect(formatDuration(4500)).toBe("4.5 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(3_660_000)).toBe("1 h 1 min");
    expect(formatCost(0)).toBe("$0");
    expect(formatCost(0.0042)).toBe("$0.0042");
    expect(formatCost(1.5)).toBe("$1.50");
  });

  it("calls a cost that counts an unpriced model unknown, with the priced part as a lower bound", () => {
    expect(costLabel(0.0042, true)).toEqual({ text: "$0.0042" });
    expect(costLabel(0, undefined)).toEqual({ text: "$0" });
    expect(costLabel(0, false).text).toBe("unknown (unpriced model)");
    expect(costLabel(0, false).title).toMatch(/No priced model's call is counted yet/);
    expect(costLabel(1.5, false).text).toBe("unknown (unpriced model; ≥ $1.50)");
    expect(costLabel(1.5, false).title).toMatch(/Only the priced models' calls are counted: \$1\.50 so far/);
  });

  it("measures an active run up to now", () => {
    const started = "2026-01-01T12:00:00Z";
    expect(runDuration({ started_at: started, ended_at: null }, Date.parse("2026-01-01T12:00:03Z"))).toBe(3000);
    expect(runDuration({ started_at: null, ended_at: null })).toBeNull();
  });
});

describe("typed environment variables", () => {
  it("parses each type strictly", () => {
    const row = (type: "str" | "int" | "float" | "bool" | "json", value: string) => parseEnvRow({ key: "k", name: "X", type, value });
    expect(row("int", "42").value).toEqual({ type: "int", value: 42 });
    expect(row("int", "4.2").error).toBe("X must be a whole number.");
    expect(row("float", "1e3").value).toEqual({ type: "float", value: 1000 });
    expect(row("float", "").error).toBe("X must be a finite number.");
    expect(row("bool", "false").value).toEqual({ type: "bool", value: false });
    expect(row("json", '{"a": [1]}').value).toEqual({ type: "json", value: { a: [1] } });
    expect(row("json", "{a}").error).toBe("X is not valid JSON.");
    expect(parseEnvRow({ key: "k", name: "1X", type: "str", value: "" }).error).toMatch(/capital letters/);
    expect(parseEnvRow({ key: "k", name: "PYTHONPATH", type: "str", value: "" }).error).toBe("PYTHONPATH is reserved by the platform.");
  });
});

describe("polling", () => {
  it("waits as long as the server's Retry-After asks", () => {
    expect(nextDelay(new ApiError(429, "rate_limited", "slow down", null, 5), 1000)).toBe(5000);
    expect(nextDelay(new ApiError(500, "internal_error", "oops"), 1000)).toBe(1000);
    expect(nextDelay(null, 3000)).toBe(3000);
  });
});
