from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.critic import CriticPolicy, Critique, Finding, critique, ruff_check
from agentlab.critic.models import DEFAULT_FORBIDDEN_IMPORTS

DEMO_CELLS = [
    pytest.param(
        """
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

df = pd.read_csv("inputs/data.csv")
print(df.describe())
print(df.groupby("category")["value"].mean())
""",
        id="pandas-describe",
    ),
    pytest.param(
        """
import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 2 * np.pi, 200)
plt.plot(x, np.sin(x))
plt.title("sine")
plt.savefig("sine.png")
""",
        id="matplotlib-savefig",
    ),
    pytest.param(
        """
import os

if os.path.exists("inputs/data.csv"):
    print(os.listdir("."))
print(os.getcwd(), os.environ.get("REGION", "none"))
""",
        id="os-path-and-listdir",
    ),
    pytest.param(
        """
with open("out.txt", "w") as handle:
    handle.write("done\\n")
with open("inputs/notes.txt") as handle:
    print(handle.read()[:200])
""",
        id="write-and-read-files",
    ),
    pytest.param(
        """
import re
import json
from pathlib import Path
from scipy import signal, stats

pattern = re.compile(r"\\d+")
numbers = [int(n) for n in pattern.findall(Path("inputs/notes.txt").read_text())]
print(stats.describe(numbers), signal.detrend(numbers))
Path("summary.json").write_text(json.dumps({"count": len(numbers)}))
""",
        id="stdlib-and-scipy",
    ),
    pytest.param("display(df.head())\nresult = df.shape\nprint(result)\n", id="names-from-earlier-cells"),
    pytest.param("import asyncio\nawait asyncio.sleep(0)\n", id="top-level-await"),
    pytest.param(
        "from IPython.display import Markdown, display\n\ndisplay(Markdown('**done**'))\n", id="ipython-display"
    ),
]


@pytest.mark.parametrize("code", DEMO_CELLS)
def test_demo_code_passes(code: str) -> None:
    result = critique(code)

    assert result.verdict == "pass", result.findings
    assert all(finding.severity == "info" for finding in result.findings)


BLOCKED_CELLS = [
    pytest.param("import subprocess\nsubprocess.run(['ls'])\n", "forbidden-import", 1, id="import-subprocess"),
    pytest.param("import subprocess as sp\n", "forbidden-import", 1, id="import-as"),
    pytest.param("from subprocess import run\n", "forbidden-import", 1, id="from-import"),
    pytest.param("import ctypes.util\n", "forbidden-import", 1, id="import-submodule-of-forbidden"),
    pytest.param("import socket\n", "forbidden-import", 1, id="socket"),
    pytest.param("from asyncio import subprocess\n", "forbidden-import", 1, id="from-package-import-submodule"),
    pytest.param("import asyncio.subprocess\n", "forbidden-import", 1, id="forbidden-submodule"),
    pytest.param("import urllib\nurllib.request.urlopen('http://x')\n", "forbidden-import", 2, id="submodule-by-attr"),
    pytest.param("import requests\n", "forbidden-import", 1, id="requests"),
    pytest.param("import builtins\n", "forbidden-import", 1, id="builtins"),
    pytest.param("__import__('subprocess')\n", "forbidden-call", 1, id="dunder-import"),
    pytest.param("import importlib\nimportlib.import_module('os')\n", "forbidden-call", 2, id="import-module"),
    pytest.param("from importlib import import_module\n", "forbidden-call", 1, id="from-importlib-import-module"),
    pytest.param("getattr(__builtins__, 'eval')('1')\n", "forbidden-attribute", 1, id="getattr-builtins"),
    pytest.param("import builtins\nbuiltins.__dict__['exec']\n", "forbidden-import", 2, id="builtins-dict"),
    pytest.param("globals()['__builtins__']\n", "forbidden-attribute", 1, id="globals-builtins"),
    pytest.param("exec('print(1)')\n", "forbidden-call", 1, id="exec"),
    pytest.param("eval('1 + 1')\n", "forbidden-call", 1, id="eval"),
    pytest.param("compile('1', 'x', 'eval')\n", "forbidden-call", 1, id="compile"),
    pytest.param("run = eval\nrun('1')\n", "forbidden-call", 1, id="eval-alias"),
    pytest.param("import os\nos.system('ls')\n", "forbidden-call", 2, id="os-system"),
    pytest.param("import os\nos.popen('ls')\n", "forbidden-call", 2, id="os-popen"),
    pytest.param("import os\nos.execv('/bin/sh', ['sh'])\n", "forbidden-call", 2, id="os-exec"),
    pytest.param("import os\nos.spawnl(os.P_WAIT, '/bin/ls')\n", "forbidden-call", 2, id="os-spawn"),
    pytest.param("import os\nos.fork()\n", "forbidden-call", 2, id="os-fork"),
    pytest.param("import os\nos.posix_spawn('/bin/ls', [], {})\n", "forbidden-call", 2, id="os-posix-spawn"),
    pytest.param("import pty\npty.spawn('/bin/sh')\n", "forbidden-import", 1, id="pty-spawn"),
    pytest.param("import os as o\no.system('ls')\n", "forbidden-call", 2, id="module-alias"),
    pytest.param("from os import system as s\ns('ls')\n", "forbidden-call", 2, id="function-alias"),
    pytest.param("from os import *\nsystem('ls')\n", "forbidden-call", 2, id="star-import"),
    pytest.param("import os\nshell = os\nshell.system('ls')\n", "forbidden-call", 3, id="assignment-alias"),
    pytest.param("import os\nrun = os.system\n", "forbidden-call", 2, id="reference-without-call"),
    pytest.param("import os\ngetattr(os, 'system')('ls')\n", "forbidden-call", 2, id="getattr-constant"),
    pytest.param("import os\nos.__dict__['system']('ls')\n", "forbidden-call", 2, id="module-dict"),
    pytest.param("import os\nvars(os)['popen']('ls')\n", "forbidden-call", 2, id="vars-module"),
    pytest.param("__import__('os').system('ls')\n", "forbidden-call", 1, id="dunder-import-attribute"),
    pytest.param("import sys\nsys.modules['os'].system('ls')\n", "forbidden-call", 2, id="sys-modules"),
    pytest.param("os.system('ls')\n", "forbidden-call", 1, id="module-from-earlier-cell"),
    pytest.param("().__class__.__base__.__subclasses__()\n", "forbidden-attribute", 1, id="subclasses"),
    pytest.param("def f():\n    pass\nf.__globals__\n", "forbidden-attribute", 3, id="globals-attribute"),
    pytest.param("def f():\n    pass\nf.__code__\n", "forbidden-attribute", 3, id="code-attribute"),
    pytest.param("getattr(object, '__subclasses__')()\n", "forbidden-attribute", 1, id="dunder-as-string"),
    pytest.param("print.__self__\n", "forbidden-attribute", 1, id="builtin-self"),
    pytest.param("get_ipython().system('ls')\n", "forbidden-call", 1, id="kernel-shell"),
    pytest.param(
        "import IPython\nIPython.get_ipython().run_cell('!ls')\n", "forbidden-call", 2, id="kernel-shell-import"
    ),
    pytest.param(
        "import os as o\nclass A:\n    def run(self):\n        return o.popen('id')\n",
        "forbidden-call",
        4,
        id="alias-inside-method",
    ),
]


@pytest.mark.parametrize(("code", "expected_code", "expected_line"), BLOCKED_CELLS)
def test_forbidden_constructs_block(code: str, expected_code: str, expected_line: int) -> None:
    result = critique(code)

    assert result.verdict == "block"
    assert any(
        finding.tool == "policy"
        and finding.code == expected_code
        and finding.line == expected_line
        and finding.severity == "error"
        for finding in result.findings
    ), result.findings


def test_alias_from_an_earlier_cell_is_followed() -> None:
    alone = critique("o.system('ls')\n")
    with_history = critique("o.system('ls')\n", prior_cells=["import os as o\n", "not python ("])

    assert alone.verdict != "block"
    assert with_history.verdict == "block"


def test_look_alike_names_are_not_mistaken_for_forbidden_ones() -> None:
    code = (
        "import re\n"
        "import pandas as pd\n"
        "from scipy import signal\n"
        "df = pd.DataFrame({'a': [1, 2]})\n"
        "print(re.compile('a'), df.eval('a + 1'), signal.detrend([1.0, 2.0]))\n"
        "code = 'abc'\n"
        "print(code.upper())\n"
    )

    assert critique(code).verdict == "pass"


def test_variable_from_an_earlier_cell_named_like_a_module_is_not_blocked() -> None:
    assert critique("print(signal.mean())\n").verdict == "pass"


def test_dynamic_attribute_lookup_on_a_module_warns() -> None:
    result = critique("import os\nname = 'getcwd'\nprint(getattr(os, name)())\n")

    assert result.verdict == "warn"
    assert [finding.code for finding in result.findings if finding.tool == "policy"] == ["dynamic-attribute"]


def test_system_path_warns() -> None:
    result = critique("print(open('/etc/passwd').read())\n")

    assert result.verdict == "warn"
    assert any(finding.code == "sensitive-path" and finding.line == 1 for finding in result.findings)


def test_syntax_error_blocks_with_its_line() -> None:
    result = critique("x = 1\ny = (\n")

    assert result.verdict == "block"
    assert [(finding.tool, finding.severity) for finding in result.findings] == [("syntax", "error")]
    assert result.findings[0].line == 2


def test_shell_escape_line_is_a_syntax_error() -> None:
    result = critique("!pip install requests\n")

    assert result.verdict == "block"
    assert result.findings[0].tool == "syntax"
    assert "!shell" in result.findings[0].message


def test_null_byte_blocks_as_unparseable() -> None:
    result = critique("x = 1\x00\n")

    assert result.verdict == "block"
    assert result.findings[0].tool == "syntax"


def test_oversized_cell_blocks_without_parsing() -> None:
    result = critique("x = 1\n" * 10, CriticPolicy(max_code_chars=20))

    assert result.verdict == "block"
    assert [finding.code for finding in result.findings] == ["too-large"]


def test_bandit_finding_appears_as_a_warning() -> None:
    result = critique("import yaml\n\nwith open('config.yml') as handle:\n    config = yaml.load(handle)\n")

    assert result.verdict == "warn"
    assert any(
        finding.tool == "bandit" and finding.code == "B506" and finding.line == 4 and finding.severity == "warning"
        for finding in result.findings
    ), result.findings


def test_bandit_high_severity_and_confidence_blocks() -> None:
    result = critique("import jinja2\n\nenvironment = jinja2.Environment(autoescape=False)\n")

    assert result.verdict == "block"
    assert any(finding.tool == "bandit" and finding.code == "B701" for finding in result.findings)


def test_nosec_comment_does_not_silence_bandit() -> None:
    result = critique("import pickle\n\nwith open('m.pkl', 'rb') as f:\n    model = pickle.loads(f.read())  # nosec\n")

    assert any(finding.tool == "bandit" and finding.code == "B301" for finding in result.findings)


def test_weak_hash_warns_but_does_not_block() -> None:
    result = critique("import hashlib\n\nprint(hashlib.md5(b'rows').hexdigest())\n")

    assert result.verdict == "warn"
    assert any(finding.code == "B324" and finding.severity == "warning" for finding in result.findings)


def test_ruff_finding_appears_as_a_warning() -> None:
    result = critique("def collect(item, into=[]):\n    into.append(item)\n    return into\n")

    assert result.verdict == "warn"
    assert [(finding.tool, finding.code, finding.line) for finding in result.findings] == [("ruff", "B006", 1)]


def test_noqa_comment_does_not_silence_ruff() -> None:
    result = critique("def collect(item, into=[]):  # noqa\n    return into\n")

    assert any(finding.tool == "ruff" and finding.code == "B006" for finding in result.findings)


def test_undefined_name_is_only_info() -> None:
    result = critique("display(df)\n")

    assert result.verdict == "pass"
    assert {(finding.code, finding.severity) for finding in result.findings} == {("F821", "info")}


def test_ruff_and_bandit_do_not_repeat_each_other() -> None:
    result = critique("import yaml\n\nconfig = yaml.load(open('c.yml'))\n")

    codes = [finding.code for finding in result.findings]
    assert "B506" in codes
    assert "S506" not in codes


def test_policy_blocked_line_carries_no_repeated_security_warnings() -> None:
    result = critique("import subprocess\n")

    assert [(finding.tool, finding.code) for finding in result.findings if finding.severity != "info"] == [
        ("policy", "forbidden-import")
    ]


def test_asserts_and_pseudo_random_numbers_are_not_reported() -> None:
    result = critique("import random\n\nvalue = random.random()\nassert value < 1\n")

    assert result.verdict == "pass"
    assert result.findings == []


def test_missing_ruff_is_reported_without_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ruff_check, "find_ruff_executable", lambda: None)

    result = critique("print(1)\n")

    assert result.verdict == "pass"
    assert [(finding.tool, finding.code) for finding in result.findings] == [("ruff", "ruff-unavailable")]


def test_allowing_an_import_unblocks_it() -> None:
    code = "import socket\n\nprint(socket.gethostname())\n"
    policy = CriticPolicy().with_imports(allow=["socket"])

    assert critique(code).verdict == "block"
    assert critique(code, policy).verdict == "pass"
    assert "socket" not in policy.forbidden_imports
    assert "subprocess" in policy.forbidden_imports


def test_allowing_a_package_allows_its_forbidden_submodules() -> None:
    policy = CriticPolicy().with_imports(allow=["http"])

    assert "http.client" not in policy.forbidden_imports
    assert critique("import http.client\n", policy).verdict != "block"


def test_forbidding_an_import_blocks_it() -> None:
    code = "import pandas as pd\n\ndf = pd.read_csv('inputs/data.csv')\n"
    policy = CriticPolicy().with_imports(forbid=["pandas"])

    assert critique(code).verdict == "pass"
    result = critique(code, policy)
    assert result.verdict == "block"
    assert {finding.line for finding in result.findings if finding.code == "forbidden-import"} == {1, 3}


def test_policy_built_from_explicit_lists() -> None:
    policy = CriticPolicy(forbidden_imports=["pandas"], forbidden_calls=[])

    assert critique("import subprocess\n", policy).verdict != "block"
    assert critique("eval('1')\n", policy).verdict != "block"
    assert critique("import pandas\n", policy).verdict == "block"


def test_blocking_warnings_too() -> None:
    policy = CriticPolicy(block_severities=["error", "warning"])

    assert critique("def f(x=[]):\n    return x\n", policy).verdict == "block"


def test_warn_only_codes_turn_errors_into_warnings() -> None:
    policy = CriticPolicy(warn_only_codes=["forbidden-import"])

    result = critique("import socket\n", policy)

    assert result.verdict == "warn"


def test_feedback_names_the_blocked_code_and_lines() -> None:
    result = critique("import math\nimport subprocess\nx = eval('1')\n")

    feedback = result.as_feedback()

    assert feedback.startswith("Blocked by the static check")
    assert "line 2" in feedback and "subprocess" in feedback and "forbidden-import" in feedback
    assert "line 3" in feedback and "eval" in feedback


def test_feedback_for_warnings_and_passes() -> None:
    warned = critique("def f(x=[]):\n    return x\n")

    assert "line 1" in warned.as_feedback() and "B006" in warned.as_feedback()
    assert critique("print(1)\n").as_feedback() == "Static check passed."


def test_feedback_is_capped() -> None:
    findings = [
        Finding(tool="policy", code="forbidden-call", message="`eval` is not allowed", line=line, severity="error")
        for line in range(1, 21)
    ]

    feedback = Critique(verdict="block", findings=findings, duration_ms=1).as_feedback()

    assert "and 12 more" in feedback
    assert len(feedback.splitlines()) == 10


def test_critic_never_runs_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = "open('ran.txt', 'w').write('x')\nraise SystemExit(3)\n"

    result = critique(code)

    assert not (tmp_path / "ran.txt").exists()
    assert result.verdict == "pass"


def test_default_policy_is_not_shared_between_instances() -> None:
    first = CriticPolicy()
    first.forbidden_imports.append("pandas")

    assert "pandas" not in CriticPolicy().forbidden_imports
    assert tuple(CriticPolicy().forbidden_imports) == DEFAULT_FORBIDDEN_IMPORTS
