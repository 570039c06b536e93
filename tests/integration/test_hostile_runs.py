"""Hostile code through the whole platform with the critic off (an operator relaxed it for a trusted use): the real
ASL, the real step handlers, the local sandbox. Every cell is contained and recorded with the limit it hit, the
session goes on, and the run still succeeds at the end."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from apiclient import EventClient
from run_checks import wait_for

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the process limit needs a dedicated sandbox uid, given only as root"),
    pytest.mark.timeout(300),
]

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}

CELLS: list[tuple[str, str]] = [
    (
        "network",
        "import socket\n"
        "for address in [('1.1.1.1', 443), ('169.254.169.254', 80), ('169.254.170.2', 80)]:\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=3)\n"
        "        print('reached', address[0])\n"
        "    except OSError as error:\n"
        "        print('unreachable', address[0])\n",
    ),
    ("fork_bomb", "import os\nwhile True:\n    os.fork()"),
    ("memory", "hog = bytearray(8 * 1024**3)"),
    ("cpu", "while True:\n    pass"),
    ("disk", "with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 1048576)"),
    (
        "host_files",
        "import os\n"
        "for path in ['/etc/shadow', '/root/.bashrc', '/proc/1/environ', '/work/main/pyproject.toml']:\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read()[:50])\n"
        "    except OSError as exc:\n"
        "        print(path, 'DENIED')\n",
    ),
    ("environment", "import os\nprint(sorted(os.environ))"),
    (
        "write_outside",
        "for path in ['/etc/escaped', '/usr/escaped', '/tmp/../root/escaped', '/work/escaped']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'WRITTEN')\n"
        "    except OSError:\n"
        "        print(path, 'DENIED')\n",
    ),
    ("output", "print('x' * 100_000_000)"),
    (
        "proc_environ",
        "import subprocess\n"
        "for pid in ['1', 'self', str(__import__('os').getppid())]:\n"
        "    done = subprocess.run(['cat', f'/proc/{pid}/environ'], capture_output=True)\n"
        "    print(pid, done.returncode, done.stdout.replace(b'\\0', b' ')[:300])\n",
    ),
    ("ctypes", "import ctypes\nctypes.string_at(0)"),
]


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


def test_hostile_cells_with_the_critic_off_are_contained_and_the_run_succeeds(
    api: EventClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret-never-seen")
    agent = api.post(
        "/v1/agents",
        {
            "name": "trusted",
            "models": {"reasoning": ["scripted"]},
            "critic": {"mode": "off"},
            "limits": {"cell_timeout_s": 8, "sandbox_memory_mb": 512, "max_steps": 40},
        },
    )
    assert agent.status == 201, agent.text
    script = [{"tool": "python", "code": code} for _, code in CELLS]
    script += [{"tool": "python", "code": "print('still here')"}, {"tool": "finish", "answer": "survived"}]
    run = api.post("/v1/runs", {"agent_id": agent.json()["id"], "prompt": "misbehave", "script": script}).json()

    final = wait_for(api, run["id"], TERMINAL, timeout_s=280)

    assert final["status"] == "succeeded" and final["result"] == "survived", final
    steps = steps_of(api, run["id"])
    assert not [s for s in steps if s["type"] == "critique"], "the critic is off: no critique state"
    executes = [s["detail"] for s in steps if s["type"] == "execute"]
    assert len(executes) == len(CELLS) + 1
    cell = dict(zip([name for name, _ in CELLS], executes, strict=False))
    assert all(e["critic"] == "off" for e in executes)
    assert cell["network"]["stdout"].split("\n")[:3] == [
        "unreachable 1.1.1.1",
        "unreachable 169.254.169.254",
        "unreachable 169.254.170.2",
    ]
    assert cell["fork_bomb"]["limit"] == "processes"
    assert cell["memory"]["limit"] == "memory" and "MemoryError" in cell["memory"]["stderr"]
    assert cell["cpu"]["limit"] in ("cpu", "timeout") and cell["cpu"]["kernel_restarted"]
    assert cell["disk"]["limit"] == "file_size"
    assert "WRITTEN" not in cell["write_outside"]["stdout"] and cell["write_outside"]["stdout"].count("DENIED") == 4
    assert cell["host_files"]["stdout"].count("DENIED") == 4
    assert "AWS_SECRET_ACCESS_KEY" not in cell["environment"]["stdout"]
    assert cell["output"]["limit"] == "output"
    for name in ("environment", "proc_environ", "host_files"):
        assert "host-secret-never-seen" not in cell[name]["stdout"] + cell[name]["stderr"]
        assert "AWS_SECRET" not in cell[name]["stdout"]
    assert cell["ctypes"]["kernel_restarted"] and cell["ctypes"]["exit_code"] == 128 + 11
    assert executes[-1]["stdout"] == "still here\n" and executes[-1]["exit_code"] == 0
