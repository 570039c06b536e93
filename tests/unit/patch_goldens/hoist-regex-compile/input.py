"""Finds the lines that look like log errors."""

import re


def error_lines(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        if re.match(r"^\d{4}-\d{2}-\d{2} ERROR ", line, flags=re.IGNORECASE):
            found.append(line)
    return found
