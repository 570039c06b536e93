"""Critic latency on realistic cells: p50/p99 per cell and overall, against a 20 ms target.

Run from the repository root: .venv/bin/python bench/critic.py
"""

from __future__ import annotations

import ast
import json
import statistics
import time

from agentlab.critic import CriticPolicy, critique, load_bandit
from agentlab.critic.bandit_scan import bandit_findings
from agentlab.critic.policy import check_policy
from agentlab.critic.ruff_check import RuffRun

TARGET_MS = 20
ROUNDS = 40
PART_ROUNDS = 10

CELLS: dict[str, str] = {
    "load-describe": """
import pandas as pd

df = pd.read_csv("inputs/data.csv")
print(df.shape)
print(df.describe(include="all"))
print(df.isna().sum())
""",
    "groupby-plot": """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("inputs/data.csv", parse_dates=["date"])
monthly = df.set_index("date").resample("MS")["value"].sum()
fig, ax = plt.subplots(figsize=(8, 4))
monthly.plot(ax=ax, marker="o")
ax.set_title("Monthly total")
fig.tight_layout()
fig.savefig("monthly.png", dpi=120)
print(monthly.tail())
""",
    "sine": """
import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 4 * np.pi, 400)
plt.plot(x, np.sin(x), label="sin")
plt.plot(x, np.cos(x), label="cos")
plt.legend()
plt.savefig("sine.png")
""",
    "files": """
import os
from pathlib import Path

for name in sorted(os.listdir("inputs")):
    path = Path("inputs") / name
    print(name, path.stat().st_size, os.path.exists(path))
with open("out.txt", "w") as handle:
    handle.write("listed\\n")
""",
    "regression": """
import numpy as np
from scipy import stats

rng = np.random.default_rng(7)
x = rng.normal(size=500)
y = 2.5 * x + rng.normal(scale=0.3, size=500)
fit = stats.linregress(x, y)
print(f"slope={fit.slope:.3f} r2={fit.rvalue ** 2:.3f} p={fit.pvalue:.2e}")
""",
    "text-stats": """
import re
from collections import Counter

text = open("inputs/notes.txt", encoding="utf-8").read().lower()
words = re.findall(r"[a-z']+", text)
common = Counter(words).most_common(15)
for word, count in common:
    print(f"{word:>12} {count}")
""",
    "functions-and-classes": """
from dataclasses import dataclass
import json


@dataclass
class Summary:
    rows: int
    columns: list[str]

    def to_json(self) -> str:
        return json.dumps({"rows": self.rows, "columns": self.columns})


def summarise(frame) -> Summary:
    return Summary(rows=len(frame), columns=list(frame.columns))


print(summarise(df).to_json())
""",
    "pivot-export": """
table = df.pivot_table(index="region", columns="category", values="value", aggfunc="mean").round(2)
table.to_csv("pivot.csv")
display(table)
""",
    "image": """
import numpy as np
import matplotlib.pyplot as plt

image = plt.imread("inputs/photo.png")
gray = image[..., :3].mean(axis=2)
print(gray.shape, float(gray.mean()))
plt.imsave("gray.png", gray, cmap="gray")
""",
    "long-analysis": "\n".join(
        f"col_{i} = df['value'] * {i} + df['value'].shift({i}).fillna(0)\nprint(col_{i}.describe())" for i in range(40)
    ),
    "bad-subprocess": """
import subprocess
print(subprocess.run(["ls", "-la"], capture_output=True, text=True).stdout)
""",
    "bad-os-system-alias": """
import os as o
o.system("cat /etc/passwd")
""",
    "bad-from-import-alias": """
from os import popen as p
print(p("id").read())
""",
    "bad-eval": """
expression = input_text.strip()
print(eval(expression))
""",
    "bad-dunder-escape": """
classes = ().__class__.__base__.__subclasses__()
loader = [c for c in classes if c.__name__ == "BuiltinImporter"][0]
print(loader.load_module("os").system("id"))
""",
    "bad-dynamic-import": """
import importlib
module = importlib.import_module("sub" + "process")
getattr(__builtins__, "exec")("print(1)")
""",
    "bad-network": """
import requests
response = requests.get("https://example.com/data.csv", verify=False)
open("data.csv", "w").write(response.text)
""",
    "bad-syntax": """
!pip install seaborn
import seaborn as sns
""",
    "warn-pickle-yaml": """
import pickle
import yaml

with open("inputs/config.yml") as handle:
    config = yaml.load(handle)
model = pickle.loads(open("inputs/model.pkl", "rb").read())
""",
    "warn-mutable-default": """
def collect(value, into=[]):
    into.append(value)
    return into

print(collect(1), collect(2))
""",
}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def part_medians() -> dict[str, float]:
    """Median time of each check alone, over all parseable cells (ruff runs concurrently with the other two)."""
    policy = CriticPolicy()
    parts: dict[str, list[float]] = {"policy": [], "bandit": [], "ruff": []}
    for code in CELLS.values():
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        checks = {
            "policy": lambda tree=tree: check_policy(tree, policy),
            "bandit": lambda code=code: bandit_findings(code),
            "ruff": lambda code=code: RuffRun(code).findings(),
        }
        for part, check in checks.items():
            for _ in range(PART_ROUNDS):
                begin = time.perf_counter()
                check()
                parts[part].append((time.perf_counter() - begin) * 1000)
    return {part: percentile(samples, 0.5) for part, samples in parts.items()}


def main() -> None:
    started = time.perf_counter()
    load_bandit()
    first_call_ms = (time.perf_counter() - started) * 1000
    for code in CELLS.values():
        critique(code)

    every_sample: list[float] = []
    print(f"{'cell':<24} {'verdict':<7} {'findings':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, code in CELLS.items():
        samples = []
        for _ in range(ROUNDS):
            begin = time.perf_counter()
            result = critique(code)
            samples.append((time.perf_counter() - begin) * 1000)
        every_sample.extend(samples)
        print(
            f"{name:<24} {result.verdict:<7} {len(result.findings):>8} "
            f"{percentile(samples, 0.5):>8.2f} {percentile(samples, 0.99):>8.2f}"
        )

    parts = part_medians()
    p50 = percentile(every_sample, 0.5)
    p99 = percentile(every_sample, 0.99)
    print(f"\nall cells: p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {statistics.fmean(every_sample):.2f} ms")
    print("each check alone, p50: " + ", ".join(f"{part} {median:.2f} ms" for part, median in parts.items()))
    print(f"target {TARGET_MS} ms; bandit load (once per process) {first_call_ms:.0f} ms")
    figures = {
        "critic_p50_ms": round(p50, 2),
        "critic_p99_ms": round(p99, 2),
        "target_ms": TARGET_MS,
        "cells": len(CELLS),
        "samples": len(every_sample),
        "bandit_load_ms": round(first_call_ms, 1),
        **{f"{part}_p50_ms": round(median, 2) for part, median in parts.items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
