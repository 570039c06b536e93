"""Replies real models give, through each provider's wire format and the real agent_run ASL: cut off by the output
limit, empty, malformed tool arguments, unknown tools, extra parallel calls, filtered. Nothing a bad reply asks for
runs, the model is told why, and the run ends with a reason of its own when asking again does not help."""

from __future__ import annotations

from typing import Any

import pytest
from apiclient import EventClient
from fake_models import FakeChatServer, bedrock_stub, chat_reply, chat_server, converse_reply, tool_use
from run_checks import wait_for

pytestmark = pytest.mark.timeout(180)

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
SERVED = "served-model"
SONNET = "anthropic.claude-3-5-sonnet-20241022-v2:0"


def create_agent(api: EventClient, models: dict[str, list[str]], **limits: Any) -> str:
    name = "-".join(ref.split(":")[-1] for refs in models.values() for ref in refs).replace(".", "-")[:60]
    response = api.post("/v1/agents", {"name": name, "models": models, "limits": limits})
    assert response.status == 201, response.text
    return str(response.json()["id"])


def run_to_end(api: EventClient, agent_id: str, prompt: str = "compute the answer", **extra: Any) -> dict[str, Any]:
    created = api.post("/v1/runs", {"agent_id": agent_id, "prompt": prompt, **extra})
    assert created.status == 201, created.text
    return wait_for(api, created.json()["id"], TERMINAL, timeout_s=150)


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user" and isinstance(m["content"], str)]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    with chat_server(monkeypatch) as fake:
        yield fake


@pytest.fixture
def openai_agent(api: EventClient, server: FakeChatServer) -> str:
    return create_agent(api, {"reasoning": [f"openai:{SERVED}"]}, max_output_tokens=256, cell_timeout_s=30)


# OpenAI-compatible --------------------------------------------------------------------------------------------------
def test_a_reply_cut_off_by_the_output_limit_is_never_the_answer(
    api: EventClient, server: FakeChatServer, openai_agent: str
) -> None:
    # Given a reply cut off mid-sentence, then a proper finish
    server.script(
        SERVED,
        chat_reply("The answer is definitely the one that", finish_reason="length"),
        chat_reply(tool_calls=[("finish", {"answer": "42"})]),
    )
    # When the run goes to its end
    final = run_to_end(api, openai_agent)
    # Then the half sentence was not taken: the model was asked again, shorter, and its real answer holds
    assert final["status"] == "succeeded" and final["result"] == "42", final
    requests = server.requests_for(SERVED)
    assert [r["max_tokens"] for r in requests] == [256, 256]
    assert any("cut off at the output limit of 256 tokens" in text for text in user_texts(requests[1]))
    thinks = [s for s in steps_of(api, final["id"]) if s["type"] == "think"]
    assert thinks[0]["detail"]["reply"] == "truncated" and thinks[0]["detail"]["stop_reason"] == "max_tokens"
    assert thinks[0]["input_tokens"] == 120 and thinks[0]["output_tokens"] == 40


def test_replies_cut_off_again_and_again_fail_the_run_and_run_nothing(
    api: EventClient, server: FakeChatServer, openai_agent: str
) -> None:
    partial_call = chat_reply(
        tool_calls=[("python", '{"code": "import pandas as pd\\nprint(pd.')], finish_reason="length"
    )
    server.script(SERVED, partial_call, partial_call, chat_reply("So the result", finish_reason="length"))
    final = run_to_end(api, openai_agent)
    assert final["status"] == "failed"
    assert final["error"]["code"] == "model_output_truncated", final
    kinds = [s["type"] for s in steps_of(api, final["id"])]
    assert kinds == ["think", "think", "think"]
    assert len(server.requests_for(SERVED)) == 3


def test_an_empty_reply_is_asked_again_once_then_fails(
    api: EventClient, server: FakeChatServer, openai_agent: str
) -> None:
    server.script(SERVED, chat_reply(""), chat_reply(None))
    final = run_to_end(api, openai_agent)
    assert final["status"] == "failed" and final["error"]["code"] == "empty_model_reply", final
    requests = server.requests_for(SERVED)
    assert len(requests) == 2
    assert any("Your last reply was empty" in text for text in user_texts(requests[1]))


def test_an_empty_reply_then_an_answer_succeeds(api: EventClient, server: FakeChatServer, openai_agent: str) -> None:
    server.script(SERVED, chat_reply("   "), chat_reply("The mean of the column is 3.5."))
    final = run_to_end(api, openai_agent)
    assert final["status"] == "succeeded" and final["result"] == "The mean of the column is 3.5.", final


def test_malformed_arguments_run_nothing_and_the_model_is_told_why(
    api: EventClient, server: FakeChatServer, openai_agent: str
) -> None:
    # Given replies whose arguments are broken JSON, of the wrong type, missing and blank, then a good call
    server.script(
        SERVED,
        chat_reply(tool_calls=[("python", '{"code": "print(1)')]),
        chat_reply(tool_calls=[("python", {"code": 42})]),
        chat_reply(tool_calls=[("python", {})]),
        chat_reply(tool_calls=[("python", {"code": "   "})]),
        chat_reply(tool_calls=[("finish", {"answer": ""})]),
        chat_reply(tool_calls=[("python", {"code": "print(6 * 7)"})]),
        chat_reply(tool_calls=[("finish", {"answer": "42"})]),
    )
    final = run_to_end(api, openai_agent)
    # Then only the good cell ran, and each bad call was answered with what was wrong and the schema to follow
    assert final["status"] == "succeeded" and final["result"] == "42", final
    steps = steps_of(api, final["id"])
    executes = [s for s in steps if s["type"] == "execute"]
    assert len(executes) == 1 and executes[0]["detail"]["stdout"] == "42\n"
    assert [s["detail"].get("problem") is not None for s in steps if s["type"] == "think"] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    requests = server.requests_for(SERVED)
    answers = [tool_messages(requests[n])[-1] for n in range(1, 6)]
    assert "not a JSON object" in answers[0]
    assert "code: Input should be a valid string" in answers[1]
    assert "code: Field required" in answers[2]
    assert "must not be empty" in answers[3] and "at least 1 character" in answers[4]
    assert all("was not run" in a and '"required":["code"]' in a for a in answers[:4])
    assert '"required":["answer"]' in answers[4]


def test_unknown_tools_and_extra_parallel_calls(api: EventClient, server: FakeChatServer, openai_agent: str) -> None:
    server.script(
        SERVED,
        chat_reply(tool_calls=[("delete_everything", {"really": True})]),
        chat_reply(tool_calls=[("python", {"code": "print('first')"}), ("python", {"code": "print('second')"})]),
        chat_reply(tool_calls=[("finish", {"answer": "done"})]),
    )
    final = run_to_end(api, openai_agent)
    assert final["status"] == "succeeded", final
    executes = [s for s in steps_of(api, final["id"]) if s["type"] == "execute"]
    assert [e["detail"]["stdout"] for e in executes] == ["first\n"]
    requests = server.requests_for(SERVED)
    assert "the tool 'delete_everything' is not enabled" in tool_messages(requests[1])[-1]
    assert tool_messages(requests[2])[-1].endswith("not run: one tool call is handled per turn")


def test_a_filtered_reply_fails_the_run_with_its_own_reason(
    api: EventClient, server: FakeChatServer, openai_agent: str
) -> None:
    server.script(SERVED, chat_reply(None, finish_reason="content_filter"))
    final = run_to_end(api, openai_agent)
    assert final["status"] == "failed" and final["error"]["code"] == "model_content_filtered", final
    assert "content filter" in final["error"]["message"]


def test_an_unpriced_model_has_an_unknown_cost(api: EventClient, server: FakeChatServer, openai_agent: str) -> None:
    server.script(SERVED, chat_reply("four"))
    final = run_to_end(api, openai_agent)
    assert final["usage"]["cost_known"] is False and final["usage"]["cost_usd"] == 0
    assert steps_of(api, final["id"])[0]["cost_known"] is False


def test_a_price_set_by_the_deployment_makes_the_cost_known(
    api: EventClient, server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_MODEL_PRICES", '{"openai:served-model": [2.0, 10.0]}')
    agent = create_agent(api, {"reasoning": [f"openai:{SERVED}"]}, max_cost_usd=1.0)
    server.script(SERVED, chat_reply("four", usage=(1_000, 100)))
    final = run_to_end(api, agent)
    assert final["usage"]["cost_known"] is True
    assert final["usage"]["cost_usd"] == pytest.approx((1_000 * 2.0 + 100 * 10.0) / 1_000_000)


# The code model ------------------------------------------------------------------------------------------------------
def test_a_code_model_writes_the_cells_the_reasoning_model_describes(api: EventClient, server: FakeChatServer) -> None:
    agent = create_agent(api, {"reasoning": ["openai:planner"], "code": ["openai:coder"]}, cell_timeout_s=30)
    server.script(
        "planner",
        chat_reply(tool_calls=[("python", {"task": "Print the product of 6 and 7."})], usage=(100, 20)),
        chat_reply(tool_calls=[("python", {"task": "Print a very long table."})], usage=(150, 20)),
        chat_reply(tool_calls=[("finish", {"answer": "42"})], usage=(200, 10)),
    )
    server.script(
        "coder",
        chat_reply("Here it is:\n```python\nprint(6 * 7)\n```\n", usage=(50, 12)),
        chat_reply("```python\nfor i in range(10", finish_reason="length", usage=(60, 30)),
    )
    final = run_to_end(api, agent)
    assert final["status"] == "succeeded" and final["result"] == "42", final
    steps = steps_of(api, final["id"])
    executes = [s for s in steps if s["type"] == "execute"]
    assert len(executes) == 1 and executes[0]["detail"]["stdout"] == "42\n"
    assert executes[0]["detail"]["task"] == "Print the product of 6 and 7."
    first_think = steps[0]
    assert first_think["detail"]["code_model"]["model_id"] == "coder"
    assert first_think["detail"]["reasoning_model"]["model_id"] == "planner"
    assert (first_think["input_tokens"], first_think["output_tokens"]) == (150, 32)
    # The reasoning model's python tool takes a task, not code
    planner_requests = server.requests_for("planner")
    python_tool = next(t for t in planner_requests[0]["tools"] if t["function"]["name"] == "python")
    assert list(python_tool["function"]["parameters"]["properties"]) == ["task"]
    # The cut-off cell was never run: the reasoning model was told to describe a smaller task
    assert "cut off at its output limit" in tool_messages(planner_requests[2])[-1]
    coder_requests = server.requests_for("coder")
    assert "Print the product of 6 and 7." in coder_requests[0]["messages"][-1]["content"]
    assert "print(6 * 7)" in coder_requests[1]["messages"][-1]["content"]
    assert final["usage"]["input_tokens"] == 100 + 50 + 150 + 60 + 200


# Bedrock Converse ---------------------------------------------------------------------------------------------------
@pytest.fixture
def bedrock_agent(api: EventClient) -> str:
    return create_agent(api, {"reasoning": [f"bedrock:{SONNET}"]}, cell_timeout_s=30)


def test_bedrock_a_cut_off_reply_is_asked_again_and_the_default_output_limit_is_the_models(
    api: EventClient, bedrock_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bedrock_stub(
        monkeypatch,
        converse_reply([{"text": "I will now"}, tool_use("python", {})], "max_tokens"),
        converse_reply([tool_use("finish", {"answer": "done"}, "tooluse_2")], "tool_use"),
    ) as stub:
        final = run_to_end(api, bedrock_agent)
    assert final["status"] == "succeeded" and final["result"] == "done", final
    assert [r["inferenceConfig"]["maxTokens"] for r in stub.requests] == [8_192, 8_192]
    last_turn = stub.requests[1]["messages"][-1]
    assert last_turn["role"] == "user" and "cut off at the output limit" in last_turn["content"][-1]["text"]
    assert final["usage"]["cost_known"] is True and final["usage"]["cost_usd"] > 0


def test_bedrock_malformed_input_and_unknown_tools_run_nothing(
    api: EventClient, bedrock_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bedrock_stub(
        monkeypatch,
        converse_reply([tool_use("python", {"cod": "print(1)"})], "tool_use"),
        converse_reply([tool_use("shell", {"cmd": "rm -rf /"}, "tooluse_2")], "tool_use"),
        converse_reply([tool_use("python", {"code": "print(3)"}, "tooluse_3")], "tool_use"),
        converse_reply([{"text": "The result is 3."}], "end_turn"),
    ) as stub:
        final = run_to_end(api, bedrock_agent)
    assert final["status"] == "succeeded" and final["result"] == "The result is 3.", final
    executes = [s for s in steps_of(api, final["id"]) if s["type"] == "execute"]
    assert [e["detail"]["stdout"] for e in executes] == ["3\n"]
    first_answer = stub.requests[1]["messages"][-1]["content"][0]["toolResult"]
    assert first_answer["status"] == "error"
    assert "Extra inputs are not permitted" in first_answer["content"][0]["text"]
    second_answer = stub.requests[2]["messages"][-1]["content"][0]["toolResult"]
    assert "the tool 'shell' is not enabled" in second_answer["content"][0]["text"]


@pytest.mark.parametrize(
    ("stop_reason", "code"),
    [("content_filtered", "model_content_filtered"), ("guardrail_intervened", "model_guardrail_intervened")],
)
def test_bedrock_filtered_replies_fail_with_their_own_code(
    api: EventClient, bedrock_agent: str, monkeypatch: pytest.MonkeyPatch, stop_reason: str, code: str
) -> None:
    with bedrock_stub(monkeypatch, converse_reply([{"text": "Sorry"}], stop_reason)):
        final = run_to_end(api, bedrock_agent)
    assert final["status"] == "failed" and final["error"]["code"] == code, final


def test_bedrock_empty_replies_fail_the_run(
    api: EventClient, bedrock_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bedrock_stub(monkeypatch, converse_reply([], "end_turn"), converse_reply([{"text": " "}], "end_turn")):
        final = run_to_end(api, bedrock_agent)
    assert final["status"] == "failed" and final["error"]["code"] == "empty_model_reply", final
