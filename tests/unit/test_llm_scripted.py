"""ScriptedProvider: script playback, the built-in demos (their code is critiqued and executed), feedback, threads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentlab.critic import critique
from agentlab.llm.errors import ModelError
from agentlab.llm.scripted import NO_BEHAVIOUR_ANSWER, SCRIPT_ENDED_ANSWER, ScriptedProvider
from agentlab.llm.types import Message, ModelResponse, ToolResult

SINE_PROMPT = "Plot a sine wave and save it as sine.png"
CSV_PROMPT = "Summarise the sales data and chart it.\n\nInput files: inputs/sales.csv (text/csv, 412 bytes)"
SALES_CSV = "month,region,units,revenue\n" + "".join(
    f"2024-{month:02d},{'north' if month % 2 else 'south'},{10 * month},{125.5 * month}\n" for month in range(1, 13)
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ask(provider: ScriptedProvider, messages: list[Message]) -> ModelResponse:
    return provider.complete(model_id="scripted", system="You are an agent.", messages=messages, tools=[])


def answer_to(response: ModelResponse, content: str, *, is_error: bool = False) -> list[Message]:
    """The assistant turn a response becomes, and the user turn that answers its tool call."""
    [call] = response.tool_calls
    return [
        Message(role="assistant", text=response.text, tool_calls=response.tool_calls),
        Message(role="user", tool_results=[ToolResult(tool_call_id=call.id, content=content, is_error=is_error)]),
    ]


def run_python(code: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(workdir / ".mpl")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_critic_passes(code: str) -> None:
    review = critique(code)
    assert review.verdict == "pass", review.findings
    assert review.findings == []


def test_script_plays_back_one_step_per_assistant_turn() -> None:
    script = [
        {"tool": "python", "code": "x = 1"},
        {"tool": "request_approval", "reason": "About to write a report."},
        {"tool": "finish", "answer": "All done."},
    ]
    provider = ScriptedProvider(script)
    messages = [Message(role="user", text="Do the scripted thing.")]

    first = ask(provider, messages)
    messages += answer_to(first, "ok")
    second = ask(provider, messages)
    messages += answer_to(second, "approved")
    third = ask(provider, messages)

    assert [(r.tool_calls[0].id, r.tool_calls[0].name, r.tool_calls[0].arguments) for r in (first, second, third)] == [
        ("call-1", "python", {"code": "x = 1"}),
        ("call-2", "request_approval", {"reason": "About to write a report."}),
        ("call-3", "finish", {"answer": "All done."}),
    ]
    assert second.text == "Running step 2 of the script."
    assert all((r.provider, r.model_id, r.cost_usd) == ("scripted", "scripted", 0.0) for r in (first, second, third))


def test_script_is_stateless() -> None:
    script = [{"tool": "python", "code": "a"}, {"tool": "python", "code": "b"}]
    messages = [Message(role="user", text="go")]
    messages += answer_to(ask(ScriptedProvider(script), messages), "ok")

    # The same conversation gets the same step, asked twice or asked of a fresh instance.
    provider = ScriptedProvider(script)
    assert ask(provider, messages).tool_calls == ask(provider, messages).tool_calls
    assert ask(provider, messages).tool_calls[0].arguments == {"code": "b"}


def test_exhausted_script_finishes() -> None:
    provider = ScriptedProvider([{"tool": "python", "code": "pass"}])
    messages = [Message(role="user", text="go")]
    messages += answer_to(ask(provider, messages), "")

    response = ask(provider, messages)

    [call] = response.tool_calls
    assert (call.id, call.name, call.arguments) == ("call-2", "finish", {"answer": SCRIPT_ENDED_ANSWER})


def test_empty_script_finishes_at_once() -> None:
    [call] = ask(ScriptedProvider([]), [Message(role="user", text=SINE_PROMPT)]).tool_calls

    assert call.arguments == {"answer": "Script ended."}


def test_script_step_without_tool_is_rejected() -> None:
    with pytest.raises(ModelError, match="step 2"):
        ScriptedProvider([{"tool": "python", "code": "1"}, {"code": "2"}])


def test_sine_demo_plots_and_names_the_file(tmp_path: Path) -> None:
    provider = ScriptedProvider()
    messages = [Message(role="user", text="Plot a sine wave and save it as wave.png please")]

    first = ask(provider, messages)

    [call] = first.tool_calls
    assert (call.id, call.name) == ("call-1", "python")
    code = call.arguments["code"]
    assert "np.sin" in code and "2 * np.pi" in code and '"wave.png"' in code
    assert_critic_passes(code)
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "wave.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "Saved wave.png" in result.stdout

    messages += answer_to(first, result.stdout)
    second = ask(provider, messages)

    [finish] = second.tool_calls
    assert (finish.id, finish.name) == ("call-2", "finish")
    assert "wave.png" in finish.arguments["answer"]
    assert "Saved wave.png" in finish.arguments["answer"]


def test_sine_demo_defaults_to_sine_png(tmp_path: Path) -> None:
    code = ask(ScriptedProvider(), [Message(role="user", text="Draw a sine curve")]).tool_calls[0].arguments["code"]

    assert run_python(code, tmp_path).returncode == 0
    assert (tmp_path / "sine.png").is_file()


def test_csv_demo_summarises_and_charts_the_input(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "sales.csv").write_text(SALES_CSV)
    provider = ScriptedProvider()
    messages = [Message(role="user", text=CSV_PROMPT)]

    first = ask(provider, messages)

    code = first.tool_calls[0].arguments["code"]
    assert '"inputs/sales.csv"' in code and "describe(" in code
    assert_critic_passes(code)
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chart.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "12 rows x 4 columns" in result.stdout
    assert "Columns: month, region, units, revenue" in result.stdout

    messages += answer_to(first, result.stdout)
    [finish] = ask(provider, messages).tool_calls

    assert finish.name == "finish"
    assert "12 rows x 4 columns" in finish.arguments["answer"]
    assert "Columns: month, region, units, revenue" in finish.arguments["answer"]
    assert "chart.png" in finish.arguments["answer"]


def test_csv_demo_without_a_listed_file_finds_one(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "numbers.csv").write_text("a,b\n1,2\n3,4\n5,6\n")

    code = ask(ScriptedProvider(), [Message(role="user", text="Analyse my CSV")]).tool_calls[0].arguments["code"]

    assert_critic_passes(code)
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 rows x 2 columns" in result.stdout
    assert (tmp_path / "chart.png").is_file()


def test_csv_answer_reads_stdout_from_a_json_tool_result() -> None:
    provider = ScriptedProvider()
    messages = [Message(role="user", text=CSV_PROMPT)]
    messages += answer_to(ask(provider, messages), '{"stdout": "Loaded inputs/sales.csv: 3 rows x 2 columns\\n"}')

    answer = ask(provider, messages).tool_calls[0].arguments["answer"]

    assert "Loaded inputs/sales.csv: 3 rows x 2 columns" in answer
    assert '"stdout"' not in answer


def test_failed_code_is_reported_in_the_answer() -> None:
    provider = ScriptedProvider()
    messages = [Message(role="user", text=CSV_PROMPT)]
    messages += answer_to(ask(provider, messages), "FileNotFoundError: inputs/sales.csv", is_error=True)

    answer = ask(provider, messages).tool_calls[0].arguments["answer"]

    assert "did not run successfully" in answer
    assert "FileNotFoundError" in answer


def test_goal_feedback_reruns_once_then_finishes() -> None:
    provider = ScriptedProvider()
    messages = [Message(role="user", text=SINE_PROMPT)]
    code_turn = ask(provider, messages)
    messages += answer_to(code_turn, "Saved sine.png")
    messages += answer_to(ask(provider, messages), "Goal not met: sine.png is missing from the artifacts.")

    retry = ask(provider, messages)

    [call] = retry.tool_calls
    assert (call.id, call.name) == ("call-3", "python")
    assert call.arguments == code_turn.tool_calls[0].arguments

    messages += answer_to(retry, "Saved sine.png")
    after_retry = ask(provider, messages)
    assert after_retry.tool_calls[0].name == "finish"

    messages += [
        Message(role="assistant", tool_calls=after_retry.tool_calls),
        Message(role="user", text="Goal not met: still no sine.png."),
    ]
    final = ask(provider, messages)

    [finish] = final.tool_calls
    assert finish.name == "finish"
    assert "still reports that the goal is not met" in finish.arguments["answer"]


def test_unknown_prompt_finishes_with_configuration_advice() -> None:
    response = ask(ScriptedProvider(), [Message(role="user", text="Write me a sonnet about the sea.")])

    [call] = response.tool_calls
    assert (call.name, call.arguments) == ("finish", {"answer": NO_BEHAVIOUR_ANSWER})
    assert "scripted model has no behaviour" in NO_BEHAVIOUR_ANSWER
    assert "AGENTLAB_BEDROCK_MODEL_ID" in NO_BEHAVIOUR_ANSWER
    assert "AGENTLAB_OPENAI_BASE_URL" in NO_BEHAVIOUR_ANSWER


def test_a_new_run_on_the_thread_starts_from_its_own_prompt() -> None:
    provider = ScriptedProvider()
    thread = [Message(role="user", text="Write me a sonnet about the sea.")]
    unknown = ask(provider, thread)
    thread += [Message(role="assistant", tool_calls=unknown.tool_calls), Message(role="user", text=SINE_PROMPT)]

    response = ask(provider, thread)

    [call] = response.tool_calls
    assert (call.id, call.name) == ("call-1", "python")
    assert '"sine.png"' in call.arguments["code"]


def test_usage_counts_words() -> None:
    response = ask(ScriptedProvider([{"tool": "finish", "answer": "two words"}]), [Message(role="user", text="a b c")])

    # system "You are an agent." (4) + prompt (3); output: text (6) + '{"answer": "two words"}' (3)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 9)
