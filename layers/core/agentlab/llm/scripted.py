"""The scripted model: a deterministic stand-in for demos and tests, labelled "scripted" wherever it appears.

It keeps no state between calls. Everything it decides comes from the conversation: the run's prompt, how many
assistant turns the run has had, the tool results so far and any goal feedback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentlab.llm.base import SCRIPTED_MODEL_ID
from agentlab.llm.errors import ModelError
from agentlab.llm.types import GOAL_FEEDBACK_PREFIX, Message, ModelResponse, ToolCall, ToolSpec, Usage

PYTHON_TOOL = "python"
FINISH_TOOL = "finish"
SCRIPT_ENDED_ANSWER = "Script ended."
DEFAULT_SINE_FILE = "sine.png"
CHART_FILE = "chart.png"
MAX_QUOTED_OUTPUT_CHARS = 1500

NO_BEHAVIOUR_ANSWER = (
    "The scripted model has no behaviour for this prompt. It is a deterministic stand-in for demos and tests that "
    "only knows two tasks: plotting a sine wave and summarising an uploaded CSV file. To work on anything else, "
    "configure a real model: set AGENTLAB_BEDROCK_MODEL_ID (with AWS credentials) to use Amazon Bedrock, or "
    "AGENTLAB_OPENAI_BASE_URL and AGENTLAB_OPENAI_MODEL to use an OpenAI-compatible server (Ollama, vLLM, "
    "llama.cpp), or choose a model in the agent's settings."
)

_SINE_PROMPT = re.compile(r"\bsine\b", re.IGNORECASE)
_PNG_NAME = re.compile(r"\b([\w\-]+\.png)\b", re.IGNORECASE)
_CSV_INPUT = re.compile(r"inputs/[^\n,()]*?\.csv\b", re.IGNORECASE)
_CSV_MENTION = re.compile(r"\bcsv\b", re.IGNORECASE)


@dataclass(frozen=True)
class Action:
    tool: str
    arguments: dict[str, Any]
    text: str


class ScriptedProvider:
    name: str = "scripted"

    def __init__(self, script: list[dict[str, Any]] | None = None) -> None:
        if script is not None:
            for number, step in enumerate(script, start=1):
                if not isinstance(step.get("tool"), str):
                    raise ModelError(f"script step {number} has no 'tool': {step!r}")
        self._script = script

    def complete(
        self,
        *,
        model_id: str,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        max_tokens: int = 4096,
        temperature: float = 0.0,
    ) -> ModelResponse:
        run = current_run(messages)
        turn = sum(1 for message in run if message.role == "assistant")
        action = script_step(self._script, turn) if self._script is not None else builtin_action(run)
        call = ToolCall(id=f"call-{turn + 1}", name=action.tool, arguments=action.arguments)
        return ModelResponse(
            text=action.text,
            tool_calls=[call],
            usage=Usage(
                input_tokens=_word_count(system) + sum(_message_word_count(message) for message in messages),
                output_tokens=_word_count(action.text) + _word_count(json.dumps(action.arguments)),
            ),
            stop_reason="tool_use",
            latency_ms=0,
            model_id=SCRIPTED_MODEL_ID,
            provider=self.name,
            cost_usd=0.0,
        )


def script_step(script: list[dict[str, Any]], turn: int) -> Action:
    if turn >= len(script):
        return Action(FINISH_TOOL, {"answer": SCRIPT_ENDED_ANSWER}, "The script has no more steps.")
    step = script[turn]
    arguments = {key: value for key, value in step.items() if key != "tool"}
    return Action(step["tool"], arguments, f"Running step {turn + 1} of the script.")


def current_run(messages: list[Message]) -> list[Message]:
    """The messages of the run being worked on: a thread holds earlier runs' turns before its prompt."""
    start = 0
    for index, message in enumerate(messages):
        if index > 0 and is_prompt(message) and ends_a_run(messages[index - 1]):
            start = index
    return messages[start:]


def is_prompt(message: Message) -> bool:
    return (
        message.role == "user"
        and bool(message.text and message.text.strip())
        and not message.tool_results
        and not is_goal_feedback(message)
    )


def ends_a_run(message: Message) -> bool:
    if message.role == "assistant":
        return not message.tool_calls or any(call.name == FINISH_TOOL for call in message.tool_calls)
    return is_goal_feedback(message)


def is_goal_feedback(message: Message) -> bool:
    if message.role != "user":
        return False
    texts = [message.text or "", *(result.content for result in message.tool_results)]
    return any(text.lstrip().startswith(GOAL_FEEDBACK_PREFIX) for text in texts)


@dataclass(frozen=True)
class Demo:
    code: str
    plan: str
    done: str


def builtin_action(run: list[Message]) -> Action:
    prompt = next((message.text or "" for message in run if is_prompt(message)), "")
    demo = demo_for(prompt)
    if demo is None:
        return Action(FINISH_TOOL, {"answer": NO_BEHAVIOUR_ANSWER}, "I have no scripted behaviour for this prompt.")
    python_calls = [call for message in run if message.role == "assistant" for call in message.tool_calls]
    python_calls = [call for call in python_calls if call.name == PYTHON_TOOL]
    feedback_count = sum(1 for message in run if is_goal_feedback(message))
    if run and is_goal_feedback(run[-1]):
        if feedback_count == 1:
            return Action(PYTHON_TOOL, {"code": demo.code}, "The goal is not met yet; running the code once more.")
        answer = f"{finish_answer(demo, run, python_calls)}\n\nThe goal check still reports that the goal is not met."
        return Action(FINISH_TOOL, {"answer": answer}, "Finishing: retrying did not meet the goal.")
    if not python_calls:
        return Action(PYTHON_TOOL, {"code": demo.code}, demo.plan)
    return Action(FINISH_TOOL, {"answer": finish_answer(demo, run, python_calls)}, "The code ran; finishing.")


def demo_for(prompt: str) -> Demo | None:
    if _SINE_PROMPT.search(prompt):
        png = _PNG_NAME.search(prompt)
        file_name = png.group(1) if png else DEFAULT_SINE_FILE
        return Demo(
            code=sine_code(file_name),
            plan=f"I will plot sin(x) over 0..2π with numpy and matplotlib and save it as {file_name}.",
            done=f"I plotted sin(x) over one period (0 to 2π) and saved the chart as {file_name}.",
        )
    csv_input = _CSV_INPUT.search(prompt)
    if csv_input or _CSV_MENTION.search(prompt):
        csv_path = csv_input.group(0).strip() if csv_input else None
        shown = csv_path or "the uploaded CSV file"
        return Demo(
            code=csv_code(csv_path),
            plan=f"I will load {shown} with pandas, summarise it and chart its numeric columns.",
            done=f"I loaded {shown} with pandas, summarised it and saved a chart of its numeric columns as "
            f"{CHART_FILE}.",
        )
    return None


def finish_answer(demo: Demo, run: list[Message], python_calls: list[ToolCall]) -> str:
    python_ids = {call.id for call in python_calls}
    results = [result for message in run for result in message.tool_results if result.tool_call_id in python_ids]
    if not results:
        return demo.done
    last = results[-1]
    output = _quoted_output(last.content)
    if last.is_error:
        return f"The code did not run successfully, so the task is not done. The tool reported:\n\n{output}"
    return f"{demo.done}\n\nWhat the code printed:\n\n{output}"


def _quoted_output(content: str) -> str:
    # The execute step may hand back its record as JSON; the printed text is what a reader wants to see.
    try:
        record = json.loads(content)
    except ValueError:
        record = None
    text = str(record.get("stdout") or content) if isinstance(record, dict) else content
    text = text.strip() or "(no output)"
    if len(text) > MAX_QUOTED_OUTPUT_CHARS:
        text = text[:MAX_QUOTED_OUTPUT_CHARS] + "\n…"
    return text


def sine_code(file_name: str) -> str:
    return f"""import matplotlib.pyplot as plt
import numpy as np

OUTPUT_FILE = {json.dumps(file_name)}

x = np.linspace(0, 2 * np.pi, 400)
y = np.sin(x)

fig, ax = plt.subplots(figsize=(8, 4.5))
ax.plot(x, y, label="sin(x)")
ax.axhline(0, color="grey", linewidth=0.8)
ax.set_xticks([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi], ["0", "π/2", "π", "3π/2", "2π"])
ax.set_xlabel("x (radians)")
ax.set_ylabel("sin(x)")
ax.set_title("Sine wave over one period")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(OUTPUT_FILE, dpi=100)
plt.close(fig)

print(f"Saved {{OUTPUT_FILE}}: sin(x) sampled at {{len(x)}} points, min {{y.min():.3f}}, max {{y.max():.3f}}")
"""


def csv_code(csv_path: str | None) -> str:
    if csv_path is None:
        source = 'from pathlib import Path\n\nCSV_PATH = str(sorted(Path("inputs").glob("*.csv"))[0])\n'
    else:
        source = f"CSV_PATH = {json.dumps(csv_path)}\n"
    return f"""import matplotlib.pyplot as plt
import pandas as pd

{source}CHART_FILE = {json.dumps(CHART_FILE)}

df = pd.read_csv(CSV_PATH)
print(f"Loaded {{CSV_PATH}}: {{df.shape[0]}} rows x {{df.shape[1]}} columns")
print("Columns: " + ", ".join(str(column) for column in df.columns))
print(df.describe(include="all").to_string())

numeric = df.select_dtypes(include="number")
labels = df.select_dtypes(exclude="number")
if not labels.empty:
    numeric = numeric.set_axis(labels.iloc[:, 0].astype(str), axis="index")

fig, ax = plt.subplots(figsize=(9, 5))
if numeric.empty:
    df.iloc[:, 0].astype(str).value_counts().head(20).plot.bar(ax=ax)
    ax.set_title(f"Most frequent values of {{df.columns[0]}}")
elif len(numeric) <= 30:
    numeric.plot.bar(ax=ax)
    ax.set_title(f"Numeric columns of {{CSV_PATH}}")
else:
    numeric.plot.line(ax=ax)
    ax.set_title(f"Numeric columns of {{CSV_PATH}}")
ax.grid(True, alpha=0.3)
fig.tight_layout()
fig.savefig(CHART_FILE, dpi=100)
plt.close(fig)
print(f"Saved {{CHART_FILE}}")
"""


def _word_count(text: str) -> int:
    return len(text.split())


def _message_word_count(message: Message) -> int:
    words = _word_count(message.text or "")
    words += sum(_word_count(result.content) for result in message.tool_results)
    words += sum(_word_count(json.dumps(call.arguments)) for call in message.tool_calls)
    return words
