import json

DEFAULTS = '{"retries": 3}'


def settings_for(users, raw):
    result = []
    for user in users:
        settings = json.loads(raw)  # expect: json-parse-in-loop
        defaults = json.loads(DEFAULTS)  # expect: json-parse-in-loop
        result.append((user, settings, defaults))
    return result


def parse_each(lines):
    return [json.loads(line) for line in lines]


def parsed_once(users, raw):
    settings = json.loads(raw)
    return [(user, settings) for user in users]


def reread(chunks):
    payload = ""
    out = []
    for chunk in chunks:
        payload = chunk
        out.append(json.loads(payload))
    return out
