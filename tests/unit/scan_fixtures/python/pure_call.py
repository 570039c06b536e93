import functools

SCALE = 3


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def weights(count):
    return [i * SCALE for i in range(count)]


def noisy(count):
    print(count)
    return count


@functools.lru_cache
def cached(n):
    return sum(range(n))


def trivial(n):
    return n + 1


def use(items):
    out = []
    for item in items:
        out.append(item * fib(20))  # expect: pure-call-in-loop
        out.append(weights(count=5))  # expect: pure-call-in-loop
        out.append(fib(item))
        out.append(noisy(3))
        out.append(cached(10))
        out.append(trivial(2))
    return out
