import json

LIMITS = '{"max_length": 80, "min_length": 3}'


def valid_names(names: list[str]) -> list[str]:
    kept = []
    for name in names:
        limits = json.loads(LIMITS)
        if limits["min_length"] <= len(name) <= limits["max_length"]:
            kept.append(name)
    return kept
