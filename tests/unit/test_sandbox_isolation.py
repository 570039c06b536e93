from pathlib import Path

from agentlab.sandbox.isolation import (
    HOME_IN_SANDBOX,
    TMP_IN_SANDBOX,
    WORKSPACE_IN_SANDBOX,
    IsolationLevel,
    PythonInstall,
    SessionPaths,
    bubblewrap_command,
    isolation_label,
    sandbox_environment,
)

PATHS = SessionPaths(Path("/srv/sandbox/sessions/run-1"))
INSTALL = PythonInstall(executable="/opt/venv/bin/python", prefixes=("/opt/venv", "/opt/python/3.11"))


def pairs(command: list[str], flag: str) -> list[tuple[str, str]]:
    return [(command[index + 1], command[index + 2]) for index, item in enumerate(command) if item == flag]


def test_as_root_bubblewrap_unshares_everything_but_the_user_namespace() -> None:
    command = bubblewrap_command("/usr/bin/bwrap", INSTALL, PATHS, Path("/srv/kernel.py"), 9, as_root=True)

    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert flag in command
    assert "--new-session" in command
    assert "--unshare-all" not in command
    assert "--unshare-user" not in command
    assert command[command.index("--") + 1 :] == [
        "/opt/venv/bin/python",
        "-I",
        "/opt/agentlab/kernel.py",
        "--stdout-fd",
        "9",
    ]


def test_as_another_user_bubblewrap_unshares_all() -> None:
    command = bubblewrap_command("bwrap", INSTALL, PATHS, Path("/srv/kernel.py"), 9, as_root=False)

    assert "--unshare-all" in command
    assert "--cap-add" not in command


def test_only_the_session_directories_are_writable_and_the_system_is_read_only() -> None:
    command = bubblewrap_command("bwrap", INSTALL, PATHS, Path("/srv/kernel.py"), 9, as_root=True)

    assert pairs(command, "--bind") == [
        (str(PATHS.tmp), TMP_IN_SANDBOX),
        (str(PATHS.home), HOME_IN_SANDBOX),
        (str(PATHS.workspace), WORKSPACE_IN_SANDBOX),
    ]
    read_only = dict(pairs(command, "--ro-bind"))
    assert read_only["/usr"] == "/usr"
    assert read_only["/opt/venv"] == "/opt/venv"
    assert read_only["/opt/python/3.11"] == "/opt/python/3.11"
    assert read_only[str(PATHS.passwd)] == "/etc/passwd"
    assert "/" not in read_only
    assert "/etc" not in read_only
    assert all("shadow" not in source for source, _ in pairs(command, "--ro-bind-try"))
    assert "--clearenv" in command


def test_directories_above_binds_are_created_open_to_the_sandbox_user() -> None:
    command = bubblewrap_command("bwrap", INSTALL, PATHS, Path("/srv/kernel.py"), 9, as_root=True)
    created = [command[index + 1] for index, item in enumerate(command) if item == "--dir"]

    assert {"/etc", "/home", "/opt", "/opt/python"} <= set(created)
    assert command.index("--dir") < command.index("--ro-bind-try")


def test_the_python_install_is_found_from_its_prefixes() -> None:
    install = PythonInstall.from_paths(
        python="/usr/bin/python3", found=["/usr/bin/python3", "/usr", "/usr", "/usr", "/usr"]
    )

    assert install.executable == "/usr/bin/python3"
    assert install.prefixes == ()


def test_the_environment_keeps_home_tmp_and_matplotlib_private() -> None:
    env = sandbox_environment(IsolationLevel.BUBBLEWRAP, PATHS, {"HOME": "/root", "MPLBACKEND": "svg", "A": "1"})
    fallback = sandbox_environment(IsolationLevel.UID, PATHS, {})

    assert env["HOME"] == HOME_IN_SANDBOX
    assert env["TMPDIR"] == TMP_IN_SANDBOX
    assert env["MPLCONFIGDIR"].startswith(HOME_IN_SANDBOX)
    assert env["MPLBACKEND"] == "svg"
    assert env["A"] == "1"
    assert fallback["HOME"] == str(PATHS.home)
    assert fallback["TMPDIR"] == str(PATHS.tmp)


def test_isolation_labels_say_what_is_in_force() -> None:
    assert isolation_label(IsolationLevel.BUBBLEWRAP, dedicated_uid=True) == "bubblewrap+uid+rlimits"
    assert isolation_label(IsolationLevel.BUBBLEWRAP, dedicated_uid=False) == "bubblewrap+rlimits"
    assert isolation_label(IsolationLevel.UID, dedicated_uid=True) == "uid+rlimits"
    assert isolation_label(IsolationLevel.RLIMITS, dedicated_uid=True) == "rlimits-only"


def test_a_checks_kernel_gets_the_workspace_read_only_and_a_home_and_tmp_of_its_own() -> None:
    check = PATHS.for_check()

    command = bubblewrap_command(
        "bwrap", INSTALL, check, Path("/srv/kernel.py"), 9, as_root=True, read_only_workspace=True
    )

    assert check.workspace == PATHS.workspace
    assert check.passwd == PATHS.passwd
    assert {check.home, check.tmp}.isdisjoint({PATHS.home, PATHS.tmp})
    assert check.home.parent == check.tmp.parent == PATHS.root
    assert pairs(command, "--bind") == [(str(check.tmp), TMP_IN_SANDBOX), (str(check.home), HOME_IN_SANDBOX)]
    assert dict(pairs(command, "--ro-bind"))[str(PATHS.workspace)] == WORKSPACE_IN_SANDBOX
    assert sandbox_environment(IsolationLevel.UID, check, {})["HOME"] == str(check.home)
