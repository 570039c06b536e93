def scaled(values: list[float], weights: list[float]) -> list[float]:
    result = []
    for value in values:
        total = sum(weights)
        result.append(value / total)
    return result
