def rank(rows, names):
    out = []
    for row in rows:
        order = tuple(sorted(names))  # expect: invariant-call-in-loop
        if row in set(names):  # expect: invariant-call-in-loop
            out.append((row, order, ",".join(names)))  # expect: invariant-call-in-loop
    return out


def varies(rows):
    return [sorted(row) for row in rows]


def names_change(rows, names):
    out = []
    for row in rows:
        names.append(row)
        out.append(sorted(names))
    return out


def copy_is_mutated(rows, names):
    for row in rows:
        local = list(names)
        local.append(row)
        print(local)


def length_is_cheap(rows, names):
    return [row for row in rows if len(names) > row]
