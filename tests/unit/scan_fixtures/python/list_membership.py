ALLOWED = ["read", "write", "admin"]


def count_allowed(actions):
    total = 0
    for action in actions:
        if action in ALLOWED:  # expect: list-membership-in-loop
            total += 1
    return total


def keep_known(items, known: list[str]):
    return [item for item in items if item not in known]  # expect: list-membership-in-loop


def literal_in_while(codes):
    i = 0
    while i < 10:
        if codes[i] in [500, 502, 503, 504]:  # expect: list-membership-in-loop
            return True
        i += 1
    return False


def already_a_set(actions):
    allowed = {"read", "write"}
    return [action for action in actions if action in allowed]


def membership_outside_loop(action):
    return action in ["read", "write"]


def list_grows_in_loop(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def unknown_container(items, container):
    return [item for item in items if item in container]


def rebound_name(items):
    names = ["a"]
    names = set(names)
    return [item for item in items if item in names]


def string_membership(words):
    text = "abc"
    return [word for word in words if word in text]
