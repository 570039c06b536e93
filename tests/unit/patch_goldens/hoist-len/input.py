def first_negative(values: list[int]) -> int:
    index = 0
    while index < len(values):
        if values[index] < 0:
            return index
        index += 1
    return -1
