"""The password policy of the user pool, in one place: the stack's pool (cdk/agentlab_cdk/identity.py), the local
pool (local/cognito.py) and the API's check of a chosen password (MemberCreate) all read it, so a password the API
accepts is one the directory accepts."""

from __future__ import annotations

import string

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# The characters Cognito counts as symbols (its documented set, the space aside).
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"
REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("a lowercase letter", string.ascii_lowercase),
    ("an uppercase letter", string.ascii_uppercase),
    ("a digit", string.digits),
    ("a symbol", SYMBOLS),
)
DESCRIPTION = (
    f"at least {MIN_PASSWORD_LENGTH} characters with a lowercase letter, an uppercase letter, a digit and a symbol "
    f"(one of {SYMBOLS})"
)


def cognito_password_policy() -> dict[str, int | bool]:
    """The policy as Cognito's CreateUserPool takes it."""
    return {
        "MinimumLength": MIN_PASSWORD_LENGTH,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
    }


def policy_problems(password: str) -> list[str]:
    """What the password lacks, in words; none when it meets the policy."""
    problems = [f"at least {MIN_PASSWORD_LENGTH} characters"] if len(password) < MIN_PASSWORD_LENGTH else []
    problems += [what for what, chars in REQUIREMENTS if not any(c in chars for c in password)]
    if password != password.strip(" "):
        problems.append("no space at its start or end")
    return problems
