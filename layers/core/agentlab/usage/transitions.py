"""State transitions per step, as Step Functions bills them: the step's Task state, and the Choice or the terminal
state it goes to. Derived from the ASL by `transitions_per_step`; the constant below is what the layer uses (it has no
ASL file), and a test checks it against statemachines/agent_run.asl.json."""

from __future__ import annotations

import re
from typing import Any

# Function name (functions/<name>) -> transitions of one invocation of it in agent_run.
AGENT_RUN_TRANSITIONS: dict[str, int] = {
    "prepare": 2,
    "think": 2,
    "execute": 2,
    "request_approval": 2,
    "check_goal": 2,
    "evaluate": 2,
    "finalize": 2,
    "record_failure": 2,
}
_FUNCTION = re.compile(r"^\$\{([A-Za-z0-9]+)FunctionArn\}$")
_FOLLOWING = ("Choice", "Succeed", "Fail", "Pass")


def _function_name(placeholder: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", placeholder).lower()


def transitions_per_step(definition: dict[str, Any]) -> dict[str, int]:
    """For each Lambda Task of a state machine: one transition for the Task, and one for each state passed through
    without another Lambda (a Choice, Pass, Succeed or Fail) straight after it, on the Task's own `Next`."""
    states: dict[str, dict[str, Any]] = definition["States"]
    counts: dict[str, int] = {}
    for state in states.values():
        if state.get("Type") != "Task":
            continue
        match = _FUNCTION.match(str(state.get("Parameters", {}).get("FunctionName", "")))
        if match is None:
            continue
        count, following = 1, state.get("Next")
        seen: set[str] = set()
        while following and following not in seen and states[following]["Type"] in _FOLLOWING:
            seen.add(following)
            count += 1
            following = states[following].get("Next") if states[following]["Type"] == "Pass" else None
        counts[_function_name(match.group(1))] = count
    return counts
