"""Weekend days, tested for membership only."""

WEEKEND = ["sat", "sun"]


def is_weekend(day: str) -> bool:
    return day in WEEKEND
