import re

WORD = r"\w+"


def words_per_line(lines):
    found = []
    for line in lines:
        pattern = re.compile(r"\d+")  # expect: regex-compile-in-loop
        found.append(pattern.findall(line))
        if re.match(WORD, line):  # expect: regex-compile-in-loop
            found.append(line)
    return found


def pattern_changes_per_item(pairs):
    return [re.match(pattern, text) for pattern, text in pairs]


def compiled_once(lines):
    digits = re.compile(r"\d+")
    return [digits.findall(line) for line in lines]


def pattern_built_in_loop(names, text):
    for name in names:
        if re.search(name + "$", text):
            return name
    return None
